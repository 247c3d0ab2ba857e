#!/usr/bin/env bash
# The run step of action.yml: runs one flagops command with the action's inputs (INPUT_* env
# vars, never interpolated into the shell) and writes the step's outputs and job summary.
#
# Environment: FLAGOPS_BIN (the binary), INPUT_COMMAND, INPUT_DIRECTORY, INPUT_CONFIG,
# INPUT_ENVIRONMENT, INPUT_PLAN_FILE, INPUT_COMMENT, INPUT_ISSUE, INPUT_BASE, INPUT_REQUIRE_REVIEWED_PLAN,
# and the runner's GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP, GITHUB_ACTION. (The
# comment author, FLAGOPS_GITHUB_COMMENT_AUTHOR, and GITHUB_* reach flagops as they are.)
# Outputs: exit-code, has-changes (plan: true/false), plan-json (plan: the saved plan's path),
# markdown (plan: the comment-sized Markdown plan's path), each file unique to the step.
set -uo pipefail
# (`${a[@]+"${a[@]}"}` expands an empty array under `set -u` in macOS' bash 3.2 too.)

bin=${FLAGOPS_BIN:?FLAGOPS_BIN must name the flagops binary}
command=${INPUT_COMMAND:-validate}
dir=${INPUT_DIRECTORY:-.}
environment=${INPUT_ENVIRONMENT:-}
plan_file=${INPUT_PLAN_FILE:-}
base=${INPUT_BASE:-}
: "${GITHUB_OUTPUT:?}" "${GITHUB_STEP_SUMMARY:?}" "${RUNNER_TEMP:?}"

# One directory per step: GITHUB_ACTION is unique per step of a job (`__owner_repo`, `…_2`).
step_id=$(printf '%s' "${GITHUB_ACTION:-flagops}" | tr -c 'A-Za-z0-9_-' '_')
work="$RUNNER_TEMP/flagops-$step_id"
mkdir -p "$work"

global=(-C "$dir")
[ -n "${INPUT_CONFIG:-}" ] && global+=(--config "$INPUT_CONFIG")

is_true() { [ "${1:-}" = true ]; }

output() { echo "$1=$2" >>"$GITHUB_OUTPUT"; }

# Fences FILE's text as a code block no line of it can close.
fenced() {
    local fence
    fence=$(awk '{ while (match($0, /`+/)) { if (RLENGTH > n) n = RLENGTH; $0 = substr($0, RSTART + RLENGTH) } }
        END { n = (n < 3 ? 3 : n + 1); s = ""; for (i = 0; i < n; i++) s = s "`"; print s }' "$1")
    printf '%s\n' "$fence"
    cat "$1"
    printf '%s\n' "$fence"
}

finish() {
    local code=$1
    output exit-code "$code"
    # For `plan`, 2 means "changes present", which is not a failure of the step.
    if [ "$command" = plan ] && [ "$code" -eq 2 ]; then code=0; fi
    exit "$code"
}

error() {
    echo "::error title=flagops::$1"
    printf '### flagops %s\n\n%s\n' "$command" "$1" >>"$GITHUB_STEP_SUMMARY"
    # For `plan`, 2 would read as "changes present": every error is 1, as with --detailed-exitcode.
    finish "$2"
}

case "$command" in
    validate | plan | apply) ;;
    *) error "unknown command \`$command\` (expected validate, plan or apply)" 2 ;;
esac
if [ -z "$environment" ] && [ "$command" != validate ]; then
    code=2
    [ "$command" = plan ] && code=1
    error "\`$command\` needs the \`environment\` input (a key of \`environments\` in flagops.yaml)" "$code"
fi

case "$command" in
    validate)
        since=()
        [ -n "$base" ] && since=(--changed-since "$base")
        # Annotations in the log (GitHub turns them into line comments), the findings in words
        # in the summary.
        "$bin" "${global[@]}" validate --format github --path-prefix "$dir" ${since[@]+"${since[@]}"}
        code=$?
        "$bin" "${global[@]}" validate --format human ${since[@]+"${since[@]}"} >"$work/validate.txt" 2>&1
        {
            printf '### flagops validate\n\n'
            if [ "$code" -eq 0 ]; then printf 'No findings.\n\n'; else printf 'Exit code %s.\n\n' "$code"; fi
            [ -s "$work/validate.txt" ] && fenced "$work/validate.txt"
        } >>"$GITHUB_STEP_SUMMARY"
        output has-changes false
        finish "$code"
        ;;
    plan)
        base_args=()
        [ -n "$base" ] && base_args=(--base "$base")
        if [ -n "$plan_file" ]; then
            out=$plan_file
            case "$plan_file" in /*) plan_json=$plan_file ;; *) plan_json="$(cd "$dir" && pwd)/$plan_file" ;; esac
        else
            out="$work/plan.json"
            plan_json=$out
        fi
        # The job summary holds up to 1 MiB: the whole plan, saved as planned.
        "$bin" "${global[@]}" plan --env "$environment" --format markdown --markdown-budget 1048576 \
            --detailed-exitcode --out "$out" ${base_args[@]+"${base_args[@]}"} >"$work/summary.md"
        code=$?
        if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then
            cat "$work/summary.md" >>"$GITHUB_STEP_SUMMARY"
            finish "$code"
        fi
        cat "$work/summary.md" >>"$GITHUB_STEP_SUMMARY"
        # The comment-sized plan (GitHub's comment limit, the default budget), posted on the
        # pull request when `comment` is true, as an issue when `issue` is.
        comment=()
        is_true "${INPUT_COMMENT:-}" && comment+=(--github-comment)
        is_true "${INPUT_ISSUE:-}" && comment+=(--github-issue)
        "$bin" "${global[@]}" plan --env "$environment" --format markdown --detailed-exitcode \
            ${base_args[@]+"${base_args[@]}"} ${comment[@]+"${comment[@]}"} >"$work/plan.md"
        second=$?
        if [ "$second" -ne 0 ] && [ "$second" -ne 2 ]; then finish "$second"; fi
        output plan-json "$plan_json"
        output markdown "$work/plan.md"
        if [ "$code" -eq 2 ]; then output has-changes true; else output has-changes false; fi
        finish "$code"
        ;;
    apply)
        # require-reviewed-plan: the plan applied (the plan file, or the plan made now) must be
        # the one the pull request's comment shows (the event's pull request, or after the
        # merge the one the commit came from); flagops checks it before any write.
        review=()
        is_true "${INPUT_REQUIRE_REVIEWED_PLAN:-}" && review+=(--require-reviewed-plan)
        # The report goes to the log and to the job summary.
        "$bin" "${global[@]}" apply --env "$environment" --auto-approve --format markdown \
            ${review[@]+"${review[@]}"} ${plan_file:+"$plan_file"} |
            tee -a "$GITHUB_STEP_SUMMARY"
        finish "${PIPESTATUS[0]}"
        ;;
esac
