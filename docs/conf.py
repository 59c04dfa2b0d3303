"""Sphinx configuration of the fastsoftmax documentation site.

Build it with ``sphinx-build -W --keep-going -b html docs docs/_build/html``; the
gallery's examples (``examples/``) run during the build.
"""
from pathlib import Path

from fastsoftmax import __version__

ROOT = Path(__file__).resolve().parents[1]

project = "fastsoftmax"
copyright = "the fastsoftmax developers"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]

# The Markdown pages are also read on GitHub: their headings are linked as anchors
# (``cli.md#first-and-second-run``), which MyST makes from the headings.
myst_heading_anchors = 3
# cli.md and hostile-inputs.md link to ../README.md, outside the site: GitHub follows
# the link, the site cannot.  tests/test_readme.py checks every relative link resolves.
suppress_warnings = ["myst.xref_missing"]

templates_path = ["_templates"]
autosummary_generate = True
# A class's own methods only (_templates/autosummary/class.rst): scikit-learn's
# inherited ones and its metadata-routing setters are documented by scikit-learn.
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
}

html_theme = "alabaster"
html_title = f"fastsoftmax {release}"
