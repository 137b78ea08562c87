"""Executes every notebook in notebooks/ top to bottom against a lake; fails if any cell fails.

    run_notebooks.py LAKE EVENTLAKE_BIN [FIGURES_DIR]
"""
import os
import pathlib
import sys

import nbclient
import nbformat

lake, binary = sys.argv[1], sys.argv[2]
figures = sys.argv[3] if len(sys.argv) > 3 else None
os.environ["EVENTLAKE_LAKE"] = lake
os.environ["EVENTLAKE_BIN"] = binary
if figures:
    os.environ["EVENTLAKE_FIGURES"] = figures
folder = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
failed = False
for path in sorted(folder.glob("*.ipynb")):
    notebook = nbformat.read(path, as_version=4)
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}}).execute()
        images = sum(1 for cell in notebook.cells for output in cell.get("outputs", [])
                     if "image/png" in output.get("data", {}))
        print(f"{path.name}: ok, {len(notebook.cells)} cells, {images} figures")
        if images == 0:
            failed = True
            print(f"{path.name}: drew no figure", file=sys.stderr)
    except nbclient.exceptions.CellExecutionError as error:
        failed = True
        print(f"{path.name}: FAILED\n{error}", file=sys.stderr)
sys.exit(1 if failed else 0)
