"""Exported search results: a CSV naming its run, head and data, and a PNG sheet."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shoekit.app.result_sheet import ResultIdentity, result_csv, result_sheet, result_sheet_png

IDENTITY = ResultIdentity(run="demo/dual_pool", attention="dual_pool", epochs_trained=8, head="max",
                          manifest_hash="0123456789abcdef" * 4, query="cam2.mp4 frame 14, box 3,4 50×60")
MATCHES = pd.DataFrame({"rank": [1, 2], "position": [7, 2], "identity": ["boot_001", "boot_002"],
                        "distance": [0.1234567, 0.5], "correct": [True, False]})


def test_csv_rows_carry_the_result_identity():
    table = pd.read_csv(io.StringIO(result_csv(MATCHES, IDENTITY)))
    assert list(table.columns[:6]) == ["query", "run", "attention", "epochs_trained", "head", "manifest_hash"]
    assert (table["manifest_hash"] == IDENTITY.manifest_hash).all() and (table["head"] == "max").all()
    assert list(table["identity"]) == ["boot_001", "boot_002"] and table["distance"][0] == 0.123457


def test_png_sheet_shows_query_and_every_match():
    query = np.zeros((60, 50, 3), np.uint8)
    matches = [np.full((120, 120, 3), 200, np.uint8)] * 2
    sheet = result_sheet(query, matches, MATCHES, IDENTITY, tile=100)
    assert sheet.dtype == np.uint8 and sheet.shape[1] == 3 * 108 + 2 * 4
    decoded = np.asarray(Image.open(io.BytesIO(result_sheet_png(query, matches, MATCHES, IDENTITY, tile=100))))
    np.testing.assert_array_equal(decoded, sheet)
    assert tuple(sheet[50, 108 + 4 + 1]) == (40, 170, 60)  # the first match's green frame
    with pytest.raises(ValueError, match="2 match images but 1 table rows"):
        result_sheet(query, matches, MATCHES.head(1), IDENTITY)
