"""Application layer of measurement-driven training: the seed experiments and single runs.

Modules: :mod:`diemodels` (die and population models from characterisations or the
simulator's truth), :mod:`borders` (MNIST on a lot of dies), :mod:`goodwill` and
:mod:`goodwill_config` (Wine on passive arrays), :mod:`single` / :mod:`single_eval` (train
/ evaluate one network), :mod:`onchip` (program and read a network through the Chip interface),
:mod:`outputs` / :mod:`goodwill_outputs` (run files, Markdown, CSV, PNG), :mod:`stats`
(confidence intervals), :mod:`networks` (networks in run files), :mod:`data` (data sets by
name).
"""
