#!/usr/bin/env bash
# shellcheck disable=SC2016 # single-quoted backticks and $(…) are the literal text expected
# Tests of scripts/action-run.sh (the action's run step) on a simulated runner: GITHUB_OUTPUT,
# GITHUB_STEP_SUMMARY, RUNNER_TEMP and GITHUB_ACTION are files and names of a temporary
# directory, the inputs INPUT_* variables as action.yml sets them, flagops a built binary on a
# copy of examples/quickstart (backend: local).
#   scripts/tests/action-run.sh FLAGOPS_BINARY      (a built flagops, e.g. target/debug/flagops)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
check() { # check NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name" >&2; failures=$((failures + 1)); fi
}
contains() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }
same() { [ "$1" = "$2" ]; }

# The workspace: the quickstart repository, committed (a saved plan records the commit).
workspace="$tmp/workspace"
mkdir -p "$workspace" "$tmp/runner"
cp -R "$repo/examples/quickstart" "$workspace/flags-repo"
rm -rf "$workspace/flags-repo/.flagops"
(cd "$workspace" && git init -q && git add -A &&
    git -c user.name=t -c user.email=t@example.invalid commit -qm init)

# step ID [NAME=VALUE...]: runs the step with GITHUB_ACTION=ID and the given inputs; its
# outputs are in $tmp/ID.output, summary in $tmp/ID.summary, log in $tmp/ID.log, exit code
# in $tmp/ID.code.
step() {
    local id=$1 code=0
    shift
    : >"$tmp/$id.output"
    : >"$tmp/$id.summary"
    (cd "$workspace" && env -i PATH="$PATH" HOME="$HOME" \
        FLAGOPS_BIN="$binary" RUNNER_TEMP="$tmp/runner" GITHUB_ACTION="$id" \
        GITHUB_OUTPUT="$tmp/$id.output" GITHUB_STEP_SUMMARY="$tmp/$id.summary" \
        INPUT_DIRECTORY=flags-repo INPUT_COMMENT=false "$@" \
        "$repo/scripts/action-run.sh") >"$tmp/$id.log" 2>&1 || code=$?
    echo "$code" >"$tmp/$id.code"
}
code_is() { [ "$(cat "$tmp/$1.code")" = "$2" ]; }
output_of() { sed -n "s/^$2=//p" "$tmp/$1.output"; }

# validate: annotations in the log, the result in the summary.
step validate INPUT_COMMAND=validate
check "validate exits 0" code_is validate 0
check "validate sets exit-code=0" contains "$tmp/validate.output" "exit-code=0"
check "validate summary" contains "$tmp/validate.summary" "### flagops validate"
check "validate summary says no findings" contains "$tmp/validate.summary" "No findings."

# validate with a broken flag file: annotation with the path under `directory`, exit 1.
printf 'key: broken\nnot_a_field: 1\n' >"$workspace/flags-repo/flags/broken.yaml"
step validate_bad INPUT_COMMAND=validate
rm "$workspace/flags-repo/flags/broken.yaml"
check "broken validate exits 1" code_is validate_bad 1
check "broken validate sets exit-code=1" contains "$tmp/validate_bad.output" "exit-code=1"
check "broken validate annotates the file" contains "$tmp/validate_bad.log" "file=flags-repo/flags/broken.yaml"
check "broken validate summary names the file" contains "$tmp/validate_bad.summary" "flags/broken.yaml"

# plan on an empty local state: changes (exit-code 2, the step passes), outputs per step.
step __owner_flagops INPUT_COMMAND=plan INPUT_ENVIRONMENT=staging
check "plan with changes: step passes" code_is __owner_flagops 0
check "plan with changes: exit-code=2" contains "$tmp/__owner_flagops.output" "exit-code=2"
check "plan with changes: has-changes=true" contains "$tmp/__owner_flagops.output" "has-changes=true"
check "plan: plan-json is the step's own" same "$(output_of __owner_flagops plan-json)" "$tmp/runner/flagops-__owner_flagops/plan.json"
check "plan: markdown is the step's own" same "$(output_of __owner_flagops markdown)" "$tmp/runner/flagops-__owner_flagops/plan.md"
check "plan: plan-json is a saved plan" contains "$tmp/runner/flagops-__owner_flagops/plan.json" '"format_version"'
check "plan: markdown names the environment" contains "$tmp/runner/flagops-__owner_flagops/plan.md" 'flagops plan: `staging`'
check "plan: summary has the plan" contains "$tmp/__owner_flagops.summary" 'flagops plan: `staging`'
check "plan: summary names a flag" contains "$tmp/__owner_flagops.summary" "welcome-banner"

# A second plan step in the same job writes its own files.
step __owner_flagops_2 INPUT_COMMAND=plan INPUT_ENVIRONMENT=production INPUT_PLAN_FILE=plan.json
check "second plan step passes" code_is __owner_flagops_2 0
check "plan-file: plan-json is <directory>/<plan-file>" same "$(output_of __owner_flagops_2 plan-json)" "$workspace/flags-repo/plan.json"
check "plan-file: the plan is saved there" test -s "$workspace/flags-repo/plan.json"
check "second step's markdown is apart" same "$(output_of __owner_flagops_2 markdown)" "$tmp/runner/flagops-__owner_flagops_2/plan.md"
check "first step's markdown is kept" contains "$tmp/runner/flagops-__owner_flagops/plan.md" 'flagops plan: `staging`'

# plan without an environment: an error, exit 1 (not 2, "changes").
step noenv INPUT_COMMAND=plan
check "plan without environment exits 1" code_is noenv 1
check "plan without environment: exit-code=1" contains "$tmp/noenv.output" "exit-code=1"
check "plan without environment says why" contains "$tmp/noenv.log" '::error title=flagops::`plan` needs the `environment` input'
check "plan without environment: in the summary" contains "$tmp/noenv.summary" '`plan` needs the `environment` input'

# An unknown command.
step unknown INPUT_COMMAND=destroy
check "unknown command exits 2" code_is unknown 2
check "unknown command says so" contains "$tmp/unknown.log" 'unknown command `destroy` (expected validate, plan or apply)'

# apply with require-reviewed-plan: flagops checks the plan against the pull request's comment
# before any write; with no GitHub token (none on this runner) it is refused, nothing applied.
step unreviewed INPUT_COMMAND=apply INPUT_ENVIRONMENT=production INPUT_REQUIRE_REVIEWED_PLAN=true INPUT_PLAN_FILE=plan.json
check "unreviewed apply exits 2" code_is unreviewed 2
check "unreviewed apply says why" contains "$tmp/unreviewed.log" '`GITHUB_TOKEN` is not set'
check "unreviewed apply changes nothing" test ! -e "$workspace/flags-repo/.flagops/state.json"

# apply of the saved plan: applied, reported in the summary; a new plan has no changes.
step apply INPUT_COMMAND=apply INPUT_ENVIRONMENT=production INPUT_PLAN_FILE=plan.json
check "saved plan apply exits 0" code_is apply 0
check "saved plan apply: exit-code=0" contains "$tmp/apply.output" "exit-code=0"
check "saved plan apply writes the state" test -s "$workspace/flags-repo/.flagops/state.json"
check "saved plan apply: report in the summary" contains "$tmp/apply.summary" "welcome-banner"
step replan INPUT_COMMAND=plan INPUT_ENVIRONMENT=production
check "plan after apply: exit-code=0" contains "$tmp/replan.output" "exit-code=0"
check "plan after apply: has-changes=false" contains "$tmp/replan.output" "has-changes=false"

# base: passed as `validate --changed-since` (an unknown revision is flagops' error).
step badbase INPUT_COMMAND=validate INPUT_BASE=no-such-revision
check "unknown base fails" code_is badbase 2
check "unknown base is named" contains "$tmp/badbase.log" "no-such-revision"

# No input reaches a shell: a hostile environment name is an argument, not code.
step hostile INPUT_COMMAND=plan 'INPUT_ENVIRONMENT=$(touch pwned)'
check "hostile input is not run" test ! -e "$workspace/pwned"
check "hostile input is an unknown environment" code_is hostile 1

# The arguments each input becomes, recorded by a wrapper around flagops (which drops
# --github-comment/--github-issue/--require-reviewed-plan: GitHub is the adapter's, tested with it).
cat >"$tmp/recording-flagops" <<WRAPPER
#!/usr/bin/env bash
echo "\$*" >>"$tmp/args.log"
args=()
for a in "\$@"; do case "\$a" in --github-comment | --github-issue | --require-reviewed-plan) ;; *) args+=("\$a") ;; esac; done
exec "$binary" "\${args[@]}"
WRAPPER
chmod +x "$tmp/recording-flagops"
base=$(cd "$workspace" && git rev-parse HEAD)
: >"$tmp/args.log"
binary_saved=$binary
binary="$tmp/recording-flagops"
step args_plan INPUT_COMMAND=plan INPUT_ENVIRONMENT=staging INPUT_COMMENT=true INPUT_BASE="$base"
step args_drift INPUT_COMMAND=plan INPUT_ENVIRONMENT=staging INPUT_ISSUE=true
step args_validate INPUT_COMMAND=validate INPUT_BASE="$base" INPUT_CONFIG=flagops.yaml
step args_apply INPUT_COMMAND=apply INPUT_ENVIRONMENT=production INPUT_REQUIRE_REVIEWED_PLAN=true
step args_apply_plain INPUT_COMMAND=apply INPUT_ENVIRONMENT=production
binary=$binary_saved
check "plan with comment passes" code_is args_plan 0
check "summary plan: 1 MiB budget, saved, base" contains "$tmp/args.log" "-C flags-repo plan --env staging --format markdown --markdown-budget 1048576 --detailed-exitcode --out $tmp/runner/flagops-args_plan/plan.json --base $base"
check "comment plan: default budget, base, --github-comment" contains "$tmp/args.log" "-C flags-repo plan --env staging --format markdown --detailed-exitcode --base $base --github-comment"
check "issue: --github-issue" contains "$tmp/args.log" "-C flags-repo plan --env staging --format markdown --detailed-exitcode --github-issue"
check "validate: config and --changed-since base" contains "$tmp/args.log" "-C flags-repo --config flagops.yaml validate --format github --path-prefix flags-repo --changed-since $base"
check "comment=false: no --github-comment" lacks "$tmp/args.log" "--out $tmp/runner/flagops-args_drift/plan.json --github"
check "apply without plan-file: passes" code_is args_apply 0
check "require-reviewed-plan: --require-reviewed-plan" contains "$tmp/args.log" "-C flags-repo apply --env production --auto-approve --format markdown --require-reviewed-plan"
check "require-reviewed-plan false: not passed" same "$(grep -c -- --require-reviewed-plan "$tmp/args.log")" 1

if [ "$failures" -ne 0 ]; then
    echo "$failures action test(s) failed" >&2
    exit 1
fi
echo "action tests passed"
