"""Executes a notebook with papermill as `python -m papermill` does, plus what papermill's command
line cannot say: a cell's own timeout (its tag `nbv-timeout=SECONDS`) and going on past cells
that raise, so that every cell is reported.

Usage: python3 execute.py SETTINGS_JSON, an object with input, output, cwd, cell_timeout,
kernel (or null), continue_on_error, pairs ([name, value] typed as papermill's -p types them)
and parameters (a JSON object, applied before the pairs, as papermill's -y is). Exits 138 when
the kernel died, as papermill's command line does.
"""
import json
import logging
import sys

TIMEOUT_TAG = "nbv-timeout="
DEAD_KERNEL = 138


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


def main(settings):
    import nbclient.exceptions
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = dict(settings["parameters"] or {})
    parameters.update({name: typed(value) for name, value in settings["pairs"]})
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        papermill.execute_notebook(
            settings["input"],
            settings["output"],
            parameters=parameters,
            kernel_name=settings["kernel"],
            progress_bar=False,
            log_output=True,
            cwd=settings["cwd"],
            execution_timeout=settings["cell_timeout"],
            timeout_func=timeout_of(settings["cell_timeout"]),
            allow_errors=settings["continue_on_error"],
        )
    except nbclient.exceptions.DeadKernelError as e:
        print(f"DeadKernelError: {e}", file=sys.stderr)
        return DEAD_KERNEL
    except PapermillExecutionError as e:
        # The executed notebook is written and says which cell raised.
        print(f"PapermillExecutionError: {e.ename}: {e.evalue}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
