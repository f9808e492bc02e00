"""UNO bridge: drives one warm LibreOffice instance on behalf of ``pipeline.documents.convert``.

This script runs under the system Python (``/usr/bin/python3`` on Debian), the
only interpreter on the machine where ``import uno`` works; the project's own
Python cannot load UNO.  It is started by :class:`pipeline.documents.convert.Converter`
and must not be imported by the project.

Usage::

    /usr/bin/python3 _uno_bridge.py PIPE_NAME [START_TIMEOUT_SECONDS]

Protocol: JSON objects, one per line.  Requests arrive on stdin, replies go to
stdout (the real stdout is reserved for the protocol; anything else printed
goes to stderr).

* After connecting to soffice the bridge writes ``{"ready": true}``; if it
  cannot connect within START_TIMEOUT it writes ``{"ready": false,
  "error": ...}`` and exits 3.
* ``{"id": n, "in": "/path/x.docx", "out": "/path/x.pdf"}`` converts one
  document and is answered with ``{"id": n, "ok": true}`` or ``{"id": n,
  "ok": false, "error": "...", "fatal": bool}``.  ``fatal`` means the
  connection to soffice is gone; the bridge exits right after replying.
* ``{"cmd": "quit"}`` terminates the LibreOffice desktop and exits 0.
* End of input: exit 0 without touching soffice.
"""

import json
import os
import signal
import sys
import time

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException

# The document is always read with the Word 2007-365 filter, so that a file
# that is not a .docx is refused instead of being "imported" as plain text.
IMPORT_FILTER = "MS Word 2007 XML"

# com.sun.star.document.MacroExecMode.NEVER_EXECUTE and UpdateDocMode.NO_UPDATE
NEVER_EXECUTE = 0
NO_UPDATE = 0

PDF_FILTER_DATA = (
    ("SelectPdfVersion", 2),  # PDF/A-2b
    ("UseTaggedPDF", True),
    ("ExportBookmarksToPDFDestination", True),  # Word bookmarks -> named destinations
    ("ExportFormFields", False),
)

RETRY_INTERVAL = 0.1


class LoadFailed(Exception):
    """LibreOffice returned no document (the usual outcome for a file that is not a .docx)."""


def prop(name, value):
    p = PropertyValue()
    p.Name = name
    p.Value = value
    return p


def connect(pipe_name, timeout):
    """Return the Desktop of the soffice listening on ``pipe_name``, retrying until ``timeout``."""
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    url = "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe_name
    deadline = time.monotonic() + timeout
    while True:
        try:
            ctx = resolver.resolve(url)
            break
        except NoConnectException:
            if time.monotonic() >= deadline:
                raise
            time.sleep(RETRY_INTERVAL)
    return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)


def convert(desktop, src, dst):
    load_props = (
        prop("Hidden", True),
        prop("ReadOnly", True),
        prop("FilterName", IMPORT_FILTER),
        prop("MacroExecutionMode", NEVER_EXECUTE),
        prop("UpdateDocMode", NO_UPDATE),
    )
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(src), "_blank", 0, load_props)
    if doc is None:
        raise LoadFailed("the file could not be loaded as a .docx document")
    try:
        filter_data = uno.Any(
            "[]com.sun.star.beans.PropertyValue",
            tuple(prop(name, value) for name, value in PDF_FILTER_DATA),
        )
        store_props = (
            prop("FilterName", "writer_pdf_Export"),
            prop("FilterData", filter_data),
        )
        uno.invoke(doc, "storeToURL", (uno.systemPathToFileUrl(dst), store_props))
    finally:
        close(doc)


def close(doc):
    try:
        doc.close(True)
    except Exception:
        # A close veto or an already disposed model: dispose() is the fallback.
        try:
            doc.dispose()
        except Exception:
            pass


def connection_lost(desktop):
    """True when soffice no longer answers over the bridge."""
    try:
        desktop.getFrames()
    except Exception:
        return True
    return False


def describe(exc, paths=()):
    """A one-line reason, without the temporary file names (and so without document data)."""
    message = getattr(exc, "Message", None) or str(exc)
    for path in paths:
        message = message.replace(uno.systemPathToFileUrl(path), "<file>").replace(path, "<file>")
    message = " ".join(message.split())[:300]
    if isinstance(exc, LoadFailed):
        return message
    return "%s: %s" % (type(exc).__name__, message) if message else type(exc).__name__


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: _uno_bridge.py PIPE_NAME [START_TIMEOUT [SOFFICE_PID]]\n")
        return 2
    pipe_name = argv[1]
    start_timeout = float(argv[2]) if len(argv) > 2 else 60.0
    soffice_pid = int(argv[3]) if len(argv) > 3 else None

    # Keep the protocol channel private: stray prints from UNO go to stderr.
    proto = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr

    def reply(obj):
        try:
            proto.write(json.dumps(obj) + "\n")
            proto.flush()
        except (BrokenPipeError, OSError):
            # Our parent died (even by kill -9) while we worked: take LibreOffice with us.
            shut_down(desktop_ref[0], soffice_pid)
            os._exit(0)

    desktop_ref = [None]

    try:
        desktop = connect(pipe_name, start_timeout)
    except Exception as exc:
        reply({"ready": False, "error": describe(exc)})
        return 3
    desktop_ref[0] = desktop
    reply({"ready": True})

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except ValueError:
            reply({"ok": False, "error": "malformed request", "fatal": False})
            continue
        if request.get("cmd") == "quit":
            try:
                desktop.terminate()
            except Exception:
                pass  # soffice going away mid-call is the expected outcome
            return 0
        request_id = request.get("id")
        src, dst = request.get("in"), request.get("out")
        if not (isinstance(src, str) and isinstance(dst, str)):
            reply({"id": request_id, "ok": False, "error": "malformed request", "fatal": False})
            continue
        try:
            convert(desktop, src, dst)
        except Exception as exc:
            fatal = connection_lost(desktop)
            error = describe(exc, (src, dst))
            reply({"id": request_id, "ok": False, "error": error, "fatal": fatal})
            if fatal:
                return 4
        else:
            reply({"id": request_id, "ok": True})
    # End of input without "quit": our parent died (even by kill -9). Take LibreOffice with us.
    shut_down(desktop, soffice_pid)
    return 0


def shut_down(desktop, soffice_pid):
    """Ask LibreOffice to quit; kill its process group if it is still there after a grace period."""
    try:
        if desktop is not None:
            desktop.terminate()
    except Exception:
        pass
    if soffice_pid is None:
        return
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.kill(soffice_pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.killpg(soffice_pid, signal.SIGKILL)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
