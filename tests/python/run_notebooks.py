"""Executes every notebook in notebooks/ top to bottom as Jupyter does (the kernel starts in the
notebook's folder); fails if any cell fails or a notebook draws nothing.

    run_notebooks.py EVENTLAKE_BIN [--workspace DIR] [--figures DIR]

The notebooks find their lake themselves: EVENTLAKE_LAKE if set, else eventlake-demo/lake in
their folder or one above it. With --workspace, copies of the notebooks run from DIR/notebooks,
so the lake `eventlake demo` made in DIR is the one they find by default, and the checkout (with
any demo lake of its own) is left alone.
"""
import argparse
import os
import pathlib
import shutil
import sys

import nbclient
import nbformat

parser = argparse.ArgumentParser()
parser.add_argument("binary", help="the eventlake binary the notebooks run (EVENTLAKE_BIN)")
parser.add_argument("--workspace", type=pathlib.Path,
                    help="run copies of the notebooks from WORKSPACE/notebooks")
parser.add_argument("--figures", help="a folder the notebooks save their figures in")
args = parser.parse_args()

os.environ["EVENTLAKE_BIN"] = str(pathlib.Path(args.binary).resolve())
if args.figures:
    os.environ["EVENTLAKE_FIGURES"] = str(pathlib.Path(args.figures).resolve())
folder = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
if args.workspace:
    copies = args.workspace.resolve() / "notebooks"
    copies.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.ipynb"):
        shutil.copy(path, copies / path.name)
    folder = copies
print(f"notebooks in {folder}; lake: {os.environ.get('EVENTLAKE_LAKE') or 'found by the notebooks'}")
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
