"""Paginated list commands: `--page-size`, `--page-token` and `--all` behave the same for every list."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from lineup.client import Client
from lineup.v1 import common_pb2
from lineup_tools.cli import render


def fetch_pages(client: Client, method: str, request: Any, args: argparse.Namespace, items: str,
                service: str = "FaceSearch") -> tuple[Any, list[Any]]:
    """Call a paginated RPC once, or (with --all) until the last page; returns the last response and all items."""
    request.page.CopyFrom(common_pb2.PageRequest(page_size=args.page_size, page_token=args.page_token))
    collected: list[Any] = []
    while True:
        resp = client.call(method, request, service=service).response
        collected.extend(getattr(resp, items))
        if not args.all or not resp.page.next_page_token:
            return resp, collected
        request.page.page_token = resp.page.next_page_token


def print_list(args: argparse.Namespace, resp: Any, items: list[Any], field: str, text: Callable[[list[Any]], str]
                ) -> int:
    if args.json:
        out = type(resp)()
        out.CopyFrom(resp)
        out.ClearField(field)
        getattr(out, field).extend(items)
        if args.all:
            out.ClearField("page")
        print(render.to_json(out))
        return 0
    print(text(items) if items else "(none)")
    if resp.page.next_page_token and not args.all:
        print(f"more: --page-token {resp.page.next_page_token}")
    return 0
