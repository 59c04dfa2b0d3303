"""The ``--dpi`` option of commands that write a figure (format from the --plot extension)."""
import click

dpi_option = click.option(
    "--dpi", type=click.FloatRange(min=1, max=2400), default=120, show_default=True,
    help="Resolution of the figure (pixels per inch; for PDF/SVG only their raster parts).")
