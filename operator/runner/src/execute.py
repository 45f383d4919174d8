"""Executes a notebook with nbclient, the executor papermill and nbval's kernel handling build on,
without papermill's own layer: papermill rewrites (and validates) the whole executed notebook
after every cell, which made long notebooks slower than nbval.

What it keeps of papermill: the parameters cell it injects (tag `injected-parameters`, after the
cell tagged `parameters`), its per-cell record `metadata.papermill` (status, times, duration),
and its `Executing Cell N` progress lines, so the executed notebook reads as papermill's would.

Partial results survive a kill: the notebook is written once before the first cell, then each
cell's state is appended to a journal (OUTPUT.journal, one JSON line per change) that the runner
folds into the notebook when this process did not write the final one.

Usage: python3 -c DRIVER SETTINGS_JSON, an object with input, output, cwd, cell_timeout, kernel
(or null), continue_on_error, pairs ([name, value] typed as papermill's -p types them) and
parameters (a JSON object, applied before the pairs, as papermill's -y is). Exits 138 when the
kernel died, as papermill's command line does, and 2 when the driver itself failed.
"""
import datetime
import json
import os
import sys
import traceback

TIMEOUT_TAG = "nbv-timeout="
# nbclient's `skip_cells_with_tag` default.
SKIP_TAG = "skip-execution"
DEAD_KERNEL = 138
# This driver itself failed: what it recorded says nothing about the notebook.
DRIVER_FAILED = 2


def typed(value):
    """A -p value as papermill types it."""
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def timeout_of(default):
    def timeout(cell):
        for tag in cell.get("metadata", {}).get("tags", []):
            if isinstance(tag, str) and tag.startswith(TIMEOUT_TAG):
                try:
                    return int(tag[len(TIMEOUT_TAG):])
                except ValueError:
                    pass
        return default

    return timeout


def language(nb):
    meta = nb.get("metadata", {})
    return (meta.get("kernelspec", {}).get("language")
            or meta.get("language_info", {}).get("name") or "python")


def inject(nb, parameters, new_code_cell):
    """Adds the parameters cell where papermill puts it; a Python kernel's only."""
    if not parameters:
        return
    if language(nb).lower() != "python":
        raise ValueError(
            f"parameters can only be injected into a Python notebook, not {language(nb)}")
    source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    cell = new_code_cell(source=source)
    cell.metadata["tags"] = ["injected-parameters"]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    old = [i for i, t in enumerate(tags) if "injected-parameters" in t]
    for i in reversed(old):
        del nb.cells[i]
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    marked = next((i for i, t in enumerate(tags) if "parameters" in t), None)
    if marked is not None:
        nb.cells.insert(marked + 1, cell)
    else:
        nb.cells.insert(old[0] if old else 0, cell)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Journal:
    """The executed notebook on disk: written whole at the start and the end, one line per cell
    change in between."""

    def __init__(self, path, nb, writes):
        self.path, self.nb, self.writes = path, nb, writes
        self.journal = path + ".journal"
        self.file = None

    def write_notebook(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.writes(self.nb))
        os.replace(tmp, self.path)

    def start(self):
        self.write_notebook()
        self.file = open(self.journal, "w", encoding="utf-8")

    def record(self, index, cell):
        self.file.write(json.dumps({"index": index, "cell": cell}, ensure_ascii=False) + "\n")
        self.file.flush()

    def finish(self):
        self.write_notebook()
        if self.file is not None:
            self.file.close()
            os.remove(self.journal)


def main(settings):
    import nbformat
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    parameters = dict(settings["parameters"] or {})
    parameters.update({name: typed(value) for name, value in settings["pairs"]})
    # The runner hands over nbformat 4 (it upgrades 3); nbformat's own reader joins the
    # sources' lines, without the schema validation that costs on large notebooks.
    with open(settings["input"], encoding="utf-8") as f:
        nb = nbformat.v4.reads(f.read())
    try:
        inject(nb, parameters, nbformat.v4.new_code_cell)
    except ValueError as e:
        print(f"ParametersNotSupported: {e}", file=sys.stderr)
        return 1
    for cell in nb.cells:
        cell.metadata["papermill"] = {"exception": None, "start_time": None, "end_time": None,
                                      "duration": None, "status": "pending"}
    # nbformat's own writer (lines split as Jupyter writes them), without its schema check.
    journal = Journal(settings["output"], nb, nbformat.v4.writes)
    started = {}

    def on_cell_start(cell, cell_index):
        print(f"Executing Cell {cell_index + 1}", file=sys.stderr, flush=True)
        if cell.cell_type != "code":
            return
        started[cell_index] = now()
        record = cell.metadata["papermill"]
        record.update(start_time=started[cell_index].isoformat(), status="running")
        # nbclient passes over empty cells and those tagged to skip without a word; they are
        # done, as papermill recorded them.
        if not cell.source.strip() or SKIP_TAG in cell.metadata.get("tags", []):
            record.update(end_time=record["start_time"], duration=0.0, status="completed",
                          exception=False)
        journal.record(cell_index, cell)

    def on_cell_executed(cell, cell_index, execute_reply):
        end = now()
        failed = (execute_reply or {}).get("content", {}).get("status") == "error"
        cell.metadata["papermill"].update(
            end_time=end.isoformat(),
            duration=(end - started.get(cell_index, end)).total_seconds(),
            status="failed" if failed else "completed", exception=failed)
        for output in cell.outputs:
            if output.get("output_type") == "stream":
                stream = sys.stdout if output.get("name") == "stdout" else sys.stderr
                stream.write(output.get("text", ""))
            elif output.get("output_type") == "error":
                print(f"{output.get('ename')}: {output.get('evalue')}", file=sys.stderr)
        sys.stdout.flush()
        journal.record(cell_index, cell)

    def new_client():
        return NotebookClient(
            nb,
            timeout=settings["cell_timeout"],
            timeout_func=timeout_of(settings["cell_timeout"]),
            # A cell over its timeout is interrupted (KeyboardInterrupt in its outputs) rather than
            # abandoned, so that with continue_on_error the next cells still run.
            interrupt_on_timeout=True,
            allow_errors=settings["continue_on_error"],
            kernel_name=settings["kernel"] or "",
            resources={"metadata": {"path": settings["cwd"]}},
            on_cell_start=on_cell_start,
            on_cell_executed=on_cell_executed,
        )

    journal.start()
    try:
        for attempt in (1, 2):
            try:
                new_client().execute()
                break
            except (CellExecutionError, DeadKernelError, NoSuchKernel):
                raise
            except Exception:
                # A kernel that did not start ran nothing (a port taken between its choice and
                # its bind, when several kernels start at once): start one once more.
                if started or attempt == 2:
                    raise
                traceback.print_exc()
                print("the kernel did not start; starting another", file=sys.stderr, flush=True)
    except DeadKernelError as e:
        print(f"DeadKernelError: {e}", file=sys.stderr)
        return DEAD_KERNEL
    except CellExecutionError as e:
        # The executed notebook says which cell raised.
        print(f"CellExecutionError: {e.ename}: {e.evalue}", file=sys.stderr)
        return 1
    except NoSuchKernel as e:
        print(f"NoSuchKernel: {e}", file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        # The cell that was running did not fail: it was never seen to the end.
        for cell in nb.cells:
            if cell.metadata["papermill"]["status"] == "running":
                cell.metadata["papermill"]["status"] = "pending"
        return DRIVER_FAILED
    finally:
        journal.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
