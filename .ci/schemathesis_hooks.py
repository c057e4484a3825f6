"""What the fuzzer needs beyond the document, for `.ci/schemathesis`
(loaded through SCHEMATHESIS_HOOKS): a rule JSON Schema cannot state (a time
relative to now), a WebSocket handshake this HTTP client can survive, and
an allowance the fuzzing user must not set on itself.

`POST /api-keys` refuses an `expires_at` in the past (422), which a schema
cannot say; a generated past time is moved a year ahead of now, so the
request stays what it was (valid or not) in every other respect.
"""

import datetime
import os

import schemathesis

# The fuzzing user (a superadmin: the first account), from `.ci/schemathesis`.
FUZZ_USER = os.environ.get("CHORUS_FUZZ_USER_ID")


def _parse(text):
    try:
        return datetime.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method != "POST" or not case.path.endswith("/api-keys"):
        return
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("expires_at"), str):
        return
    when = _parse(body["expires_at"])
    if when is None:
        return
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    if when <= now:
        body["expires_at"] = (now + datetime.timedelta(days=365)).isoformat()


@schemathesis.hook("before_call")
def close_websockets(context, case, kwargs):
    """A handshake the server accepts turns the connection into a WebSocket
    this HTTP client cannot use: ask for it to be closed after the 101."""
    if not case.path.endswith("/ws"):
        return
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "connection" and isinstance(value, str) and "upgrade" in value.lower():
            headers[name] = value + ", close"


@schemathesis.hook("before_call")
def keep_own_allowance(context, case, kwargs):
    """The fuzzing user may patch itself as an admin; a token allowance it
    sets on itself would answer every later AI call 429 and leave those
    routes untested. Its own allowance stays unlimited."""
    if case.method != "PATCH" or "/admin/users/" not in case.path:
        return
    if (case.path_parameters or {}).get("id") != FUZZ_USER or not isinstance(case.body, dict):
        return
    if "monthly_token_allowance" in case.body:
        case.body["monthly_token_allowance"] = None


@schemathesis.hook("before_call")
def no_foreign_project(context, case, kwargs):
    """A `project_id` on a conversation or document must name one of the
    caller's live projects (422 otherwise), which a schema cannot say: a
    generated id is dropped for `null` (no project), so the request stays
    what it was in every other respect."""
    attaches = (case.method == "POST" and case.path.endswith(("/conversations", "/documents"))) or (
        case.method == "PATCH" and "/conversations/" in case.path
    )
    if attaches and isinstance(case.body, dict) and isinstance(case.body.get("project_id"), str):
        case.body["project_id"] = None


@schemathesis.hook("before_call")
def consistent_setting_definitions(context, case, kwargs):
    """A setting definition's default must pass its own `validation`
    (min <= value <= max, a pattern that compiles and matches, one of the
    enum), which a schema cannot say across fields; its `type` and the
    default's are tied by the document's oneOf. A positive case drops the
    generated `validation`, so it stays valid; negative cases are sent as
    generated."""
    if "/settings/definitions" not in case.path or case.method not in ("POST", "PUT", "PATCH"):
        return
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict):
        case.body.pop("validation", None)
        if case.method == "PATCH":
            # A new type or default alone may not fit the stored other half.
            case.body.pop("type", None)
            case.body.pop("default_value", None)


@schemathesis.hook("before_call")
def future_plugin_state_ttl(context, case, kwargs):
    """`ttl_expires_at` of a plugin state must be in the future (422
    otherwise), which a schema cannot say: a past time is moved a year
    ahead, for each item of a bulk create too."""
    if "/plugin-state" not in case.path or not isinstance(case.body, dict):
        return
    bodies = case.body.get("items") if case.path.endswith("/bulk") else [case.body]
    now = datetime.datetime.now(datetime.timezone.utc)
    for body in bodies if isinstance(bodies, list) else []:
        if not isinstance(body, dict) or not isinstance(body.get("ttl_expires_at"), str):
            continue
        when = _parse(body["ttl_expires_at"])
        if when is None:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        if when <= now:
            body["ttl_expires_at"] = (now + datetime.timedelta(days=365)).isoformat()


@schemathesis.hook("before_call")
def unknown_setting_for_values(context, case, kwargs):
    """Whether a setting value is valid depends on the stored definition
    it names (its type, rules and scopes), which a schema cannot say. The
    fuzzer's definitions get ids such as "0" that its values would name
    too; a positive value case names a definition no case creates (404),
    so a generated value is never judged against an unrelated definition."""
    if not case.path.endswith("/settings/instances") or case.method != "POST":
        return
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict) and isinstance(case.body.get("definition_id"), str):
        case.body["definition_id"] = ("x" + case.body["definition_id"])[:100] + ".unknown-" + "z" * 10


@schemathesis.hook("before_call")
def consistent_feature_flag_patches(context, case, kwargs):
    """A feature flag's PATCH is checked as a whole: a new `flag_type`
    needs the field its rule reads (`percentage`, `user_ids`, `roles`),
    and that field cannot be cleared while the type reads it, which the
    document cannot say across the stored flag and the body. A positive
    case keeps the flag's type and leaves out a null percentage and empty
    lists; negative cases are sent as generated."""
    if "/admin/feature-flags/" not in case.path or case.method != "PATCH":
        return
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict):
        case.body.pop("flag_type", None)
        if case.body.get("percentage", 0) is None:
            case.body.pop("percentage")
        for field in ("user_ids", "roles"):
            if case.body.get(field) == []:
                case.body.pop(field)
