"""Requirements of a notebook, from its imports and its %pip lines (docs/adrs/0007).

Usage: python3 imports.py [--name IMPORT=DISTRIBUTION]... NOTEBOOK [SOURCE_DIR...] prints one
requirement (or pip option) per line, and writes them to $NBV_REQUIREMENTS_OUT when set; imports
installed by their own name are reported on standard error and, as a comment line, in that file.
--name adds to (or overrides) the table of import names whose distribution is named otherwise.
python3 imports.py --install FILE installs FILE with pip unless it names nothing. Uses the
standard library only, and the interpreter's own list of standard modules, so it answers for the
Python that runs it.
"""
import ast
import json
import os
import shlex
import sys

# Import names whose distribution is named otherwise.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "Pillow",
    "yaml": "PyYAML",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "skimage": "scikit-image",
    "Crypto": "pycryptodome",
    "OpenSSL": "pyOpenSSL",
    "google.protobuf": "protobuf",
    "jwt": "PyJWT",
    "magic": "python-magic",
    "serial": "pyserial",
    "usb": "pyusb",
    "attr": "attrs",
    "git": "GitPython",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "fitz": "PyMuPDF",
    "tensorflow_hub": "tensorflow-hub",
    "mpl_toolkits": "matplotlib",
    "IPython": "ipython",
    "ipywidgets": "ipywidgets",
}

# Starts the comment line of the requirements file that lists the imports installed by their own
# name (pip ignores it; the runner reports it).
UNKNOWN_NOTE = "# nbv: installed by their import name (not in the table of other names): "

# Installed with every notebook image: never listed.
PROVIDED = {"papermill", "ipykernel", "IPython", "ipython"}


def standard(name):
    names = getattr(sys, "stdlib_module_names", None)
    if names is not None:
        return name in names or name in sys.builtin_module_names
    import importlib.util
    import sysconfig

    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return spec is not None
    return spec.origin in ("built-in", "frozen") or spec.origin.startswith(
        sysconfig.get_paths()["stdlib"]
    )


def local(name, dirs):
    return any(
        os.path.isfile(os.path.join(d, name + ".py"))
        or os.path.isdir(os.path.join(d, name))
        for d in dirs
    )


def cells(path):
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    sheets = nb.get("worksheets")
    found = nb.get("cells") or [c for s in sheets or [] for c in s.get("cells", [])]
    for cell in found:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", cell.get("input", ""))
        yield "".join(source) if isinstance(source, list) else source


def pip_line(line):
    """The arguments of `%pip install ...` or `!pip install ...`, else None."""
    words = line.strip().lstrip("%!").split(None, 2)
    if len(words) >= 2 and words[0] in ("pip", "pip3") and words[1] == "install":
        return shlex.split(words[2] if len(words) > 2 else "")
    if line.strip().startswith("!python") and " -m pip install " in line:
        return shlex.split(line.split(" -m pip install ", 1)[1])
    return None


def main(argv):
    args = argv[1:]
    while args[:1] == ["--name"] and len(args) > 1:
        name, _, dist = args[1].partition("=")
        DISTRIBUTIONS[name] = dist
        args = args[2:]
    notebook = args[0]
    dirs = [os.path.dirname(os.path.abspath(notebook))] + args[1:]
    # What %pip lines name comes first: they carry versions and options an import cannot.
    options, pinned, wanted, unknown = [], [], [], []
    for source in cells(notebook):
        code = []
        for line in source.splitlines():
            args = pip_line(line)
            if args is not None:
                i = 0
                while i < len(args):
                    arg = args[i]
                    if arg.startswith("-"):
                        takes_value = arg in ("--find-links", "-f", "--index-url", "-i",
                                              "--extra-index-url", "--trusted-host")
                        option = arg + (" " + args[i + 1] if takes_value and i + 1 < len(args) else "")
                        if option not in options and arg not in ("-q", "--quiet", "-U", "--upgrade"):
                            options.append(option)
                        i += 2 if takes_value else 1
                        continue
                    pinned.append(arg)
                    i += 1
                code.append("")
            elif line.lstrip().startswith(("%", "!")):
                code.append("")
            else:
                code.append(line)
        try:
            tree = ast.parse("\n".join(code))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for full in names:
                top = full.split(".")[0]
                if standard(top) or local(top, dirs) or top in PROVIDED:
                    continue
                dist = DISTRIBUTIONS.get(full) or DISTRIBUTIONS.get(top)
                if dist is None:
                    dist = top
                    if top not in unknown:
                        unknown.append(top)
                wanted.append(dist)
    def key(req):
        return req.split("=")[0].split("<")[0].split(">")[0].split("[")[0].lower().replace("_", "-")

    seen, requirements = set(), []
    for req in pinned + wanted:
        if key(req) not in seen:
            seen.add(key(req))
            requirements.append(req)
    # A %pip line that names the distribution settles it.
    named = {key(req) for req in pinned}
    unknown = [name for name in unknown if key(name) not in named]
    lines = options + requirements
    for line in lines:
        print(line)
    note = UNKNOWN_NOTE + ", ".join(unknown) if unknown else None
    out = os.environ.get("NBV_REQUIREMENTS_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines + ([note] if note else [])))
    if note:
        print(note[2:], file=sys.stderr)


def install(path):
    with open(path, encoding="utf-8") as f:
        names = [line for line in f.read().splitlines() if line and line[0] not in "-#"]
    if not names:
        print("nbv: the notebook imports nothing to install")
        return 0
    import subprocess

    return subprocess.call([sys.executable, "-m", "pip", "install", "--no-cache-dir", "-r", path])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--install"]:
        sys.exit(install(sys.argv[2]))
    main(sys.argv)
