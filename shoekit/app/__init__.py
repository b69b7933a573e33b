"""Services only the workbench uses: what a person does through a browser, in plain library code.

    uploads.py       uploaded files stored on disk for readers that need a path
    cropping.py      a shoe cut out of a CCTV frame (a pixel box) and its toe/heel points
    video.py         CCTV video files: probe, every n-th frame, one frame as RGB
    result_sheet.py  a search result exported for a case file (CSV + PNG sheet)

Nothing here imports Streamlit; the model core (`shoekit.models`, `shoekit.train`,
`shoekit.evaluate`, `shoekit.search`, ...) never imports this package.
"""
