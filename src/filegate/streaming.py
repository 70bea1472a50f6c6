"""Event streams whose frames skip the middlewares' send wrappers.

With 2,000 listeners each event is 2,000 body messages, and every wrapper between the route
and the server (the request log, the body limit, Starlette's exception handling) is a Python
call per message: a quarter of the API's time in that benchmark. The request log middleware,
which sees every answer, puts a direct send of its own into the scope; an event stream sends
its start and its end through the usual chain (so CORS headers, error handling and the log's
status are as for any answer) and its frames through that direct send, which still counts
their bytes for the log line.
"""

from __future__ import annotations

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

DIRECT_SEND = "filegate.direct_send"
"""Scope key: a send that goes to the server with no wrapper but the request log's count."""


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._direct: Send | None = scope.get(DIRECT_SEND)
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        frames = self._direct or send
        async for chunk in self.body_iterator:
            body = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            await frames({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
