#!/usr/bin/env python3
"""Evaluate Mixpanel flag definitions for given users with Mixpanel's own Python SDK.

Mixpanel's SDK (`mixpanel` on PyPI, module `mixpanel.flags`) evaluates flags locally from the
definitions that `GET /flags/definitions` serves. This program hands it definitions from a file
(what flagops stored in the fake Mixpanel) instead of the network, the way the SDK's own tests
do (mixpanel/flags/test_local_feature_flags.py stubs that request with respx), and prints what
the SDK decides for each user: the judge of what a stored flag means is Mixpanel's evaluator,
not flagops.

    evaluate.py DEFINITIONS (CONTEXTS | --users N [--prefix P]) [--summary]

DEFINITIONS  a file, or `-` for stdin: `{"flags": [ExperimentationFlagMetadata, ...]}` as
             `/flags/definitions` serves it, or the management API's list answer
             `{"status": "ok", "results": [flag, ...]}` (converted: enabled flags only, as the
             definitions endpoint serves only enabled flags).
CONTEXTS     a file, or `-`: a JSON list of evaluation contexts, each with a `distinct_id` and
             optionally `device_id`, group keys and `custom_properties`.
--users N    instead of CONTEXTS: N users `P0` … `P{N-1}` (P defaults to `user-`).
--summary    print only the counts per variant, not each user's result.

Prints JSON (keys sorted): {"sdk": "mixpanel-python X.Y.Z", "flags": {KEY: {"counts":
{VARIANT or "(fallback)": n}, "results": {DISTINCT_ID: {"variant_key", "variant_value",
"source", "is_qa_tester", "fallback"}}}}}. Exit 0 on success, 2 on bad input (a message on
stderr naming the problem).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import httpx
import respx
from mixpanel import Mixpanel
from mixpanel import __version__ as SDK_VERSION
from mixpanel.flags.types import ExperimentationFlags, LocalFlagsConfig, SelectedVariant

# The fields of ExperimentationFlagMetadata (mixpanel/docs openapi/feature-flags.openapi.yaml;
# mixpanel/flags/types.py ExperimentationFlag).
DEFINITION_FIELDS = (
    "id",
    "name",
    "key",
    "status",
    "project_id",
    "workspace_id",
    "context",
    "experiment_id",
    "is_experiment_active",
    "hash_salt",
)
FALLBACK = "(fallback)"
# Any host: the request never leaves the process (respx answers it).
API_HOST = "api.mixpanel.com"


class BadInput(Exception):
    """Input this program refuses, with a message for the user."""


def read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as e:
        raise BadInput(f"{what}: cannot read {path}: {e.strerror}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"{what}: {path}:{e.lineno}:{e.colno}: {e.msg}") from e


def to_definitions(document: Any) -> dict[str, Any]:
    """The `/flags/definitions` answer for `document` (definitions or a management list)."""
    if isinstance(document, dict) and isinstance(document.get("flags"), list):
        return {"flags": document["flags"]}
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        flags = []
        for flag in document["results"]:
            if not isinstance(flag, dict):
                raise BadInput("definitions: results[] must hold objects")
            if flag.get("status") != "enabled":
                continue
            definition = {field: flag.get(field) for field in DEFINITION_FIELDS}
            ruleset = flag.get("ruleset") or {}
            definition["ruleset"] = {
                "variants": ruleset.get("variants", []),
                "rollout": ruleset.get("rollout", []),
            }
            if ruleset.get("test") is not None:
                definition["ruleset"]["test"] = ruleset["test"]
            flags.append(definition)
        return {"flags": flags}
    raise BadInput(
        'definitions: expected {"flags": [...]} (/flags/definitions) or '
        '{"status": "ok", "results": [...]} (the management list)'
    )


def check_definitions(definitions: dict[str, Any]) -> list[str]:
    """Parse with the SDK's own types (its loader swallows errors); return the flag keys."""
    try:
        parsed = ExperimentationFlags.from_dict(definitions)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise BadInput(f"definitions: the SDK cannot parse them: {type(e).__name__}: {e}") from e
    keys = [flag.key for flag in parsed.flags]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise BadInput(f"definitions: duplicate flag keys {duplicates}")
    return sorted(keys)


def contexts_from(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.users is not None:
        if args.contexts is not None:
            raise BadInput("give CONTEXTS or --users, not both")
        if args.users < 0:
            raise BadInput("--users must be at least 0")
        return [{"distinct_id": f"{args.prefix}{i}"} for i in range(args.users)]
    if args.contexts is None:
        raise BadInput("give CONTEXTS (a file or -) or --users N")
    if args.contexts == "-" and args.definitions == "-":
        raise BadInput("only one of DEFINITIONS and CONTEXTS can be stdin")
    contexts = read_json(args.contexts, "contexts")
    if not isinstance(contexts, list):
        raise BadInput("contexts: expected a JSON list of objects")
    seen = set()
    for i, context in enumerate(contexts):
        if not isinstance(context, dict) or not isinstance(context.get("distinct_id"), str):
            raise BadInput(f"contexts[{i}]: expected an object with a string distinct_id")
        if context["distinct_id"] in seen:
            raise BadInput(f"contexts[{i}]: duplicate distinct_id {context['distinct_id']!r}")
        seen.add(context["distinct_id"])
    return contexts


def result_of(variant: SelectedVariant) -> dict[str, Any]:
    return {
        "variant_key": variant.variant_key,
        "variant_value": variant.variant_value,
        "source": variant.variant_source,
        "is_qa_tester": bool(variant.is_qa_tester),
        "fallback": variant.fallback_reason.kind if variant.fallback_reason else None,
    }


def evaluate(
    definitions: dict[str, Any], keys: list[str], contexts: list[dict[str, Any]]
) -> dict[str, Any]:
    config = LocalFlagsConfig(api_host=API_HOST, enable_polling=False)
    mp = Mixpanel("flagops-eval-token", local_flags_config=config)
    provider = mp.local_flags
    try:
        with respx.mock(assert_all_called=True) as router:
            router.get(f"https://{API_HOST}/flags/definitions").mock(
                return_value=httpx.Response(200, json=definitions)
            )
            provider.start_polling_for_definitions()
        out: dict[str, Any] = {}
        for key in keys:
            counts: dict[str, int] = {}
            results: dict[str, Any] = {}
            for context in contexts:
                variant = provider.get_variant(
                    key, SelectedVariant(variant_value=None), context, report_exposure=False
                )
                if variant.fallback_reason and variant.fallback_reason.kind == "FLAG_NOT_FOUND":
                    raise BadInput(f"definitions: the SDK did not load flag {key!r}")
                name = variant.variant_key if variant.variant_key is not None else FALLBACK
                counts[name] = counts.get(name, 0) + 1
                results[context["distinct_id"]] = result_of(variant)
            out[key] = {"counts": counts, "results": results}
        return out
    finally:
        provider.shutdown()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Evaluate Mixpanel flag definitions with Mixpanel's Python SDK."
    )
    parser.add_argument("definitions", help="definitions JSON file, or - for stdin")
    parser.add_argument("contexts", nargs="?", help="contexts JSON file, or - for stdin")
    parser.add_argument("--users", type=int, help="evaluate N generated distinct ids instead")
    parser.add_argument("--prefix", default="user-", help="prefix of generated distinct ids")
    parser.add_argument("--summary", action="store_true", help="print the counts only")
    args = parser.parse_args(argv)
    # The SDK logs a warning per user outside every rollout; the results say so already.
    logging.getLogger("mixpanel").setLevel(logging.ERROR)
    try:
        contexts = contexts_from(args)
        definitions = to_definitions(read_json(args.definitions, "definitions"))
        keys = check_definitions(definitions)
        flags = evaluate(definitions, keys, contexts)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.summary:
        flags = {key: {"counts": flag["counts"]} for key, flag in flags.items()}
    json.dump(
        {"sdk": f"mixpanel-python {SDK_VERSION}", "flags": flags},
        sys.stdout,
        sort_keys=True,
        indent=1,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
