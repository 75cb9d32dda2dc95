"""Limits in front of MLflow's scoring server: a body too large or nested too deeply is refused in one sentence
before MLflow reads it (MLflow reads any size, answers deep nesting with a 500 from its parser, and echoes a body
that is not JSON back in full)."""

import json

import numpy as np

MAX_BODY_BYTES = 1_000_000  # a request row is ~100 bytes; 256 faces (the most per request) fit in a few rows
MAX_DRAINED_BYTES = 100_000_000  # a larger body is cut off unread: the client may not see the 413
MAX_DEPTH = 32  # {"dataframe_records": [{"n": 4}]} is 3 deep; the ways MLflow reads bodies need under 10
SHOWN_CHARS = 1_000  # of an answer's message: a huge value the client sent is not echoed back whole
EXAMPLE = '{"dataframe_records": [{"n": 4, "seed": 0}]}'


class BodyGuard:  # pylint: disable=too-few-public-methods  # an ASGI app: called, nothing else
    """An ASGI app that reads each POST body (up to MAX_BODY_BYTES), checks it, and hands it on to `app`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            size += len(message.get("body", b""))
            if size <= MAX_BODY_BYTES:
                chunks.append(message.get("body", b""))
            elif not more or size > MAX_DRAINED_BYTES:  # read (not kept) to its end, so the client sees the answer
                await _refuse(send, 413, _too_large(size, more))
                return
        body = b"".join(chunks)
        problem = content_type_problem(scope["headers"])
        if problem:
            await _refuse(send, 415, problem)
            return
        problem = body_problem(body)
        if problem:
            await _refuse(send, 400, problem)
            return
        await self.app(scope, _replay(body, receive), _without_internals(send))


def content_type_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why a request's Content-Type is refused, in one sentence; None for one `application/json` header. Every
    header is read: with two, a check of the first and MLflow's reading of the last would see different bodies."""
    types = [value for name, value in headers if name.lower() == b"content-type"]
    if len(types) != 1:
        return (
            f"Send one Content-Type header, application/json (this request has {len(types)}), with rows like {EXAMPLE}."
        )
    media_type = types[0].split(b";", 1)[0].strip().lower()
    if media_type != b"application/json":
        shown = media_type[:40].decode("latin-1")
        return f"The body is {shown!r}, not JSON: send Content-Type: application/json with rows like {EXAMPLE}."
    return None


def body_problem(body: bytes) -> str | None:
    """Why a JSON body is refused (nested too deeply, or not JSON), in one sentence; None when it is fine."""
    depth = nesting_depth(body)
    if depth > MAX_DEPTH:
        return f"The body's JSON is nested {depth:,} deep, more than {MAX_DEPTH}: send rows like {EXAMPLE}."
    try:
        json.loads(body)
    except (ValueError, RecursionError) as error:
        where = f" ({error.msg} at line {error.lineno}, column {error.colno})" if hasattr(error, "msg") else ""
        return f"The body is not JSON{where}: send rows like {EXAMPLE}."
    return None


def nesting_depth(body: bytes) -> int:
    """How deep `[` and `{` nest outside JSON strings, in time linear in the body's size (a regular expression
    over strings took minutes on an unterminated string of escaped quotes, blocking every other client)."""
    data = np.frombuffer(body, np.uint8)
    if not data.size:
        return 0
    index = np.arange(data.size)
    # A quote is escaped when an odd run of backslashes stands right before it.
    last_other = np.maximum.accumulate(np.where(data == ord("\\"), -1, index))
    backslashes_before = index - 1 - np.concatenate(([-1], last_other[:-1]))
    quotes = (data == ord('"')) & (backslashes_before % 2 == 0)
    outside = np.cumsum(quotes) % 2 == 0
    opens = ((data == ord("[")) | (data == ord("{"))) & outside
    closes = ((data == ord("]")) | (data == ord("}"))) & outside
    return int((np.cumsum(opens) - np.cumsum(closes)).max())


def _too_large(size: int, more: bool) -> str:
    return (
        f"The body is {'over ' if more else ''}{size:,} bytes, more than {MAX_BODY_BYTES:,}: ask for faces in "
        "smaller requests."
    )


def _replay(body: bytes, receive):
    """The ASGI `receive` of a request whose body was already read: the body once, then what comes after."""
    sent = False

    async def replayed():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _without_internals(send):
    """The ASGI `send` of the app behind the guard, with every error answer cut to its code and message: MLflow's
    JSON errors carry the server's Python traceback (`stack_trace`) and may echo a value the client sent whole."""
    held: dict = {}

    async def sent(message):
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held["start"], held["body"] = message, b""
            return None
        if message["type"] == "http.response.body" and "start" in held:
            held["body"] += message.get("body", b"")
            if message.get("more_body", False):
                return None
            code, text = _error_code_and_message(held.pop("body"))
            return await _refuse(send, held.pop("start")["status"], text, code)
        return await send(message)

    return sent


def _error_code_and_message(body: bytes) -> tuple[str, str]:
    try:
        answer = json.loads(body)
        code, message = str(answer.get("error_code", "BAD_REQUEST")), str(answer.get("message", ""))
    except (ValueError, AttributeError, RecursionError):
        code, message = "BAD_REQUEST", body.decode("utf-8", "replace")
    message = message or "The request failed."
    if len(message) > SHOWN_CHARS:
        message = f"{message[:SHOWN_CHARS]}... ({len(message):,} characters)"
    return code, message


async def _refuse(send, status: int, message: str, code: str = "BAD_REQUEST") -> None:
    """An answer shaped as MLflow's own errors: {"error_code": ..., "message": ...}."""
    content = json.dumps({"error_code": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
