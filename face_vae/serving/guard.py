"""Limits in front of MLflow's scoring server: a body too large or nested too deeply is refused in one sentence
before MLflow reads it (MLflow reads any size, answers deep nesting with a 500 from its parser, and echoes a body
that is not JSON back in full)."""

import json
import re

import numpy as np

MAX_BODY_BYTES = 1_000_000  # a request row is ~100 bytes; 256 faces (the most per request) fit in a few rows
MAX_DRAINED_BYTES = 100_000_000  # a larger body is cut off unread: the client may not see the 413
MAX_DEPTH = 32  # {"dataframe_records": [{"n": 4}]} is 3 deep; the ways MLflow reads bodies need under 10
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
EXAMPLE = '{"dataframe_records": [{"n": 4, "seed": 0}]}'


class BodyGuard:  # pylint: disable=too-few-public-methods  # an ASGI app: called, nothing else
    """An ASGI app that reads each POST body (up to MAX_BODY_BYTES), checks it, and hands it on to `app`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
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
        problem = body_problem(body) if b"json" in headers.get(b"content-type", b"") else None
        if problem:
            await _refuse(send, 400, problem)
            return
        await self.app(scope, _replay(body, receive), send)


def body_problem(body: bytes) -> str | None:
    """Why a JSON body is refused (nested too deeply, or not JSON), in one sentence; None when it is fine."""
    brackets = np.frombuffer(JSON_STRING.sub(b'""', body), np.uint8)
    depth = np.cumsum((brackets == ord("[")) | (brackets == ord("{"))) - np.cumsum(
        (brackets == ord("]")) | (brackets == ord("}"))
    )
    if depth.size and depth.max() > MAX_DEPTH:
        return f"The body's JSON is nested {depth.max():,} deep, more than {MAX_DEPTH}: send rows like {EXAMPLE}."
    try:
        json.loads(body)
    except (ValueError, RecursionError) as error:
        where = f" ({error.msg} at line {error.lineno}, column {error.colno})" if hasattr(error, "msg") else ""
        return f"The body is not JSON{where}: send rows like {EXAMPLE}."
    return None


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


async def _refuse(send, status: int, message: str) -> None:
    """An answer shaped as MLflow's own errors: {"error_code": ..., "message": ...}."""
    content = json.dumps({"error_code": "BAD_REQUEST", "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
