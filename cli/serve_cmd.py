"""`myna serve LIBRARY`: the library map and the playlist verbs in a local web page.
Thin: find the store, open it, bind, hand the app to uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.app import app
from cli.console import console, counted, err_console
from playlist.network import listen


@app.command("serve")
def serve_cmd(
    library: Path | None = typer.Argument(None, help="The library folder (or its .myna store); default: the "
                                                     "store above the current folder, else the default library."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback lets your "
                                                         "network reach the page."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0: any free one)."),
    playlist: Path | None = typer.Option(None, "--playlist", help="An m3u/m3u8 to show at start."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
) -> None:
    """Serve the library map on http://127.0.0.1:PORT until Ctrl-C."""
    import uvicorn

    from myna_rpe.errors import LibraryError
    from playlist.library.locate_store import locate_store, store_of
    from playlist.web.app import create_app
    from playlist.web.service import LibraryService

    if library is not None and store_of(library) is None:
        raise LibraryError("no library store here", library, f"index it first with `myna index {library}`")
    service = LibraryService(store_of(library) if library is not None else locate_store(None))
    try:
        ids: list[int] = []
        if playlist is not None:
            ids, skipped = service.call_now(service.resolve_file, playlist)
            if skipped:
                err_console.print(f"{playlist.name}: {counted(len(skipped), 'entry', 'entries')} skipped (first: line {skipped[0][0]}, "
                                  f"{skipped[0][2]})", style="yellow", highlight=False)
        sock = listen(host, port)
        port = sock.getsockname()[1]
        web = create_app(service, host, port, ids, playlist.name if playlist else "")
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        if host not in ("127.0.0.1", "::1", "localhost"):
            err_console.print(f"serving on {host}: other machines on your network can open this page",
                              style="yellow", highlight=False)
        console.print(f"{counted(len(service.ids), 'track')} from {service.root}; serving {url} (Ctrl-C to stop)",
                      highlight=False, soft_wrap=True)
        if open_browser:
            import webbrowser

            if not webbrowser.open(url):
                err_console.print(f"no browser could be opened here: open {url} yourself", style="yellow",
                                  highlight=False)
        server = uvicorn.Server(uvicorn.Config(web, log_level="warning", access_log=False))
        server.run(sockets=[sock])
    finally:
        service.close()
