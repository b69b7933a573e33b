"""The shoekit workbench: a thin Streamlit app over run folders (entry point: workbench/app.py)."""
