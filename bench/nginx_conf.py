"""The nginx config of the fast upstream: canned OpenAI answers, one server per variant.

nginx cannot read the JSON body, so the variant is chosen by port: the JSON server answers
every chat completion with a JSON completion, the stream server with an SSE body.
"""

from __future__ import annotations

from pathlib import Path

import canned

# nginx rejects a config token over its 4 KiB read buffer: long bodies go in several variables.
_PART = 3000


def _quote(text: str) -> str:
    if "$" in text:  # nginx would read it as a variable
        raise ValueError("canned body must not contain '$'")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _return_body(name: str, body: bytes, content_type: str) -> str:
    text = body.decode()
    parts = [text[i : i + _PART] for i in range(0, len(text), _PART)]
    lines = [f"default_type {content_type};"]
    refs = []
    for i, part in enumerate(parts):
        lines.append(f"set ${name}{i} {_quote(part)};")
        refs.append(f"${name}{i}")
    lines.append(f'return 200 "{"".join(refs)}";')
    return "\n      ".join(lines)


def _server(port: int, name: str, chat_body: bytes, chat_type: str) -> str:
    return f"""
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    location = /v1/chat/completions {{
      {_return_body(name, chat_body, chat_type)}
    }}
    location = /v1/models {{
      {_return_body(name + "_models", canned.models_json(), "application/json")}
    }}
    location / {{
      default_type application/json;
      return 404 '{{"error":{{"message":"not found","type":"invalid_request_error","code":"not_found"}}}}';
    }}
  }}"""


def write_config(tmp: Path, json_port: int, stream_port: int) -> Path:
    """Write nginx.conf under tmp (every path nginx writes stays in tmp) and return its path."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    conf = f"""# written by bench/run.py; one process, no daemon, so its PID is the one we stop.
master_process off;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server_tokens off;
{_server(json_port, "chat_json", canned.completion_json(), "application/json")}
{_server(stream_port, "chat_stream", canned.stream_body(), "text/event-stream")}
}}
"""
    path = tmp / "nginx.conf"
    path.write_text(conf)
    return path
