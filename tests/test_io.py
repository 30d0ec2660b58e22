"""Atomic writes give outputs the user's umask, read when writing: importing webtext changes
no process-wide state (umask, GIL switch interval)."""

from __future__ import annotations

import subprocess
import sys


def test_import_leaves_process_state_alone_and_writes_follow_the_umask(tmp_path):
    code = (
        "import os, sys, pkgutil, importlib\n"
        "os.umask(0o027); interval = sys.getswitchinterval()\n"
        "import webtext\n"
        "for m in pkgutil.walk_packages(webtext.__path__, 'webtext.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert os.umask(0o027) == 0o027 and sys.getswitchinterval() == interval\n"
        "from webtext import io\n"
        "io.write_text_atomic(sys.argv[1] + '/a', 'x')\n"
        "os.umask(0o002)  # changed after import: the next write follows it\n"
        "io.write_text_atomic(sys.argv[1] + '/b', 'x')\n"
        "print(oct(os.stat(sys.argv[1] + '/a').st_mode & 0o777),"
        " oct(os.stat(sys.argv[1] + '/b').st_mode & 0o777), oct(io.FILE_MODE))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["0o640", "0o664", "0o664"]


def test_reading_a_zst_dump_restores_the_switch_interval(tmp_path):
    """The interval is shortened only while a .zst dump is read (the decoder thread needs the
    GIL back often), and restored when the last reader closes, finished or abandoned."""
    import zstandard

    from webtext.reddit.dumps import ZSTD_SWITCH_INTERVAL, iter_chunks

    path = tmp_path / "RS_x.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'{"id": "a"}\n' * 200_000))
    before = sys.getswitchinterval()
    assert before > ZSTD_SWITCH_INTERVAL
    first, second = iter_chunks(path), iter_chunks(path)
    assert next(first) and next(second)
    assert sys.getswitchinterval() == ZSTD_SWITCH_INTERVAL
    first.close()  # abandoned: the other reader still needs the short interval
    assert sys.getswitchinterval() == ZSTD_SWITCH_INTERVAL
    for _ in second:  # read to the end
        pass
    assert sys.getswitchinterval() == before
