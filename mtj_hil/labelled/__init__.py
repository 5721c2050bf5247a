"""Labelled data: run files as ``xarray.Dataset`` (named dimensions, coordinates, CF units
and long names), defect tables as ``pandas.DataFrame``, and their export to NetCDF and CSV."""
