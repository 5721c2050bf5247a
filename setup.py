"""Package layout: the layer folders at the top of the repository install under ``mtj_hil``.

``instruments/``, ``protocols/`` and ``calibration/`` become ``mtj_hil.instruments`` and so
on; their old top-level names install as deprecated aliases (``mtj_hil/compat/shims``).
The example ``stations/`` and ``campaigns/`` folders install as package data under
``mtj_hil/examples`` (``mtj-hil examples DIR`` copies them out). Everything else is in
``pyproject.toml``.
"""

from setuptools import find_packages, setup

LAYERS = ("instruments", "protocols", "calibration")
SHIMS = "mtj_hil/compat/shims"

packages = find_packages(include=["mtj_hil", "mtj_hil.*"], exclude=["mtj_hil.compat.shims*"])
package_dir = {}
for layer in LAYERS:
    packages += [f"mtj_hil.{layer}"] + [f"mtj_hil.{layer}.{p}" for p in find_packages(layer)]
    package_dir[f"mtj_hil.{layer}"] = layer
    packages.append(layer)
    package_dir[layer] = f"{SHIMS}/{layer}"

for folder in ("stations", "campaigns"):  # their *.toml: package-data in pyproject.toml
    packages.append(f"mtj_hil.examples.{folder}")
    package_dir[f"mtj_hil.examples.{folder}"] = folder

setup(packages=packages, package_dir=package_dir)
