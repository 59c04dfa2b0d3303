"""``fastsoftmax report``: Markdown and self-contained HTML report of a results folder."""
import os

import click

from fastsoftmax.cli.errors import handle_errors
from fastsoftmax.cli.options import json_option, overwrite_option
from fastsoftmax.cli.output import echo, echo_json
from fastsoftmax.cli.paths import output_file


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.option("--title", default=None, help="Report title. [default: from the sweep's parameters]")
@click.option("--replot", is_flag=True, help="Redraw the PNG plots from the results first.")
@overwrite_option
@json_option
@handle_errors
def report(folder, title, replot, force, as_json):
    """Write FOLDER/report.md and FOLDER/report.html for a sweep or study folder.

    The Markdown links the PNG plots beside it; the HTML embeds them (base64), so it
    is one self-contained file.  A study folder (written by `fastsoftmax study`) gets
    the study's report, rebuilt from its sub-folders' results (`study` writes one
    already: rebuilding it needs --force).
    """
    for name in ("report.md", "report.html"):
        output_file(os.path.join(folder, name), name, force)

    if os.path.exists(os.path.join(folder, "study.json")):
        from fastsoftmax.experiments.study import write_study_report

        paths = write_study_report(folder, replot=replot)
    else:
        from fastsoftmax.experiments.report import write_report

        if replot:
            from fastsoftmax.experiments.plots import make_plots

            make_plots(folder)
        paths = write_report(folder, title)
    if as_json:
        echo_json(paths)
        return
    echo(f"report written to {paths['markdown']} and {paths['html']}")
