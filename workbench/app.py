"""shoekit workbench: the Streamlit entry point (`streamlit run workbench/app.py`, or `shoekit workbench`).

Draws the sidebar every page shares (runs folder, run, feature head) and routes to one page
per file in `workbench/views/`. The pages only read run folders made by `shoekit train` and
`shoekit evaluate`; all computing is done by the shoekit library.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `streamlit run` puts only workbench/ on the path
    sys.path.insert(0, str(REPO_ROOT))

from workbench.widgets import sidebar  # noqa: E402  (needs the path above)

VIEWS = Path(__file__).parent / "views"
PAGES = [
    st.Page(VIEWS / "match.py", title="Match & explain", icon=":material/join_inner:", url_path="match",
            default=True),
    st.Page(VIEWS / "compare.py", title="Compare runs", icon=":material/monitoring:", url_path="compare"),
    st.Page(VIEWS / "gallery.py", title="Ranked gallery", icon=":material/view_module:", url_path="gallery"),
    st.Page(VIEWS / "data.py", title="Data & CCTV simulation", icon=":material/videocam:", url_path="data"),
    st.Page(VIEWS / "investigate.py", title="Investigate", icon=":material/search:", url_path="investigate"),
    st.Page(VIEWS / "how_it_works.py", title="How it works", icon=":material/school:", url_path="how-it-works"),
    st.Page(VIEWS / "attention.py", title="Attention explorer", icon=":material/tune:", url_path="attention"),
]

st.set_page_config(page_title="shoekit workbench", page_icon=":material/footprint:", layout="wide")
page = st.navigation(PAGES)
sidebar()
page.run()
