"""A source file that is not UTF-8 (Latin-1, Windows-1252) is mirrored as text;
bytes that only happen to lack a NUL stay binary."""

import os

from hostagent.mirror.safefile import read_file
from hostagent.textcodec import decode_text
from tests.kits.agent_mirror import by_path, make_mirror

LATIN1_PY = "# -*- coding: latin-1 -*-\n# Café crème, naïve façade\ndef greet():\n    return 'Grüße'\n"


def test_a_latin1_source_file_is_text(tmp_path):
    path = tmp_path / "greet.py"
    path.write_bytes(LATIN1_PY.encode("latin-1"))
    data = read_file(str(path), None, keep_text=True)
    assert data.binary is False and data.text == LATIN1_PY


def test_a_short_western_text_is_not_read_as_another_code_page():
    assert decode_text("# Café crème\nx = 'über'\n".encode("latin-1")) == "# Café crème\nx = 'über'\n"


def test_random_bytes_and_control_characters_stay_binary(tmp_path):
    noise = bytes(b for b in os.urandom(4000) if b)
    assert decode_text(noise) is None
    assert decode_text(bytes(range(1, 32)) * 20) is None
    path = tmp_path / "blob.bin"
    path.write_bytes(noise)
    data = read_file(str(path), None, keep_text=True)
    assert data.binary is True and data.text is None


async def test_the_mirror_sends_a_latin1_file_as_text(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    (root / "greet.py").write_bytes(LATIN1_PY.encode("latin-1"))
    mirror, link = make_mirror(tmp_path, {"p": root})
    await mirror.sync_project("p")
    change = by_path(link.changes())["greet.py"]
    assert change["binary"] is False and change["text"] == LATIN1_PY
    assert change["size"] == len(LATIN1_PY.encode("latin-1"))
