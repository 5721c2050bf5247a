"""A live view of the bench: a read-only web page over run files (and campaigns).

The run file is the one source of truth. The server (:mod:`mtj_hil.live.server`) opens it
read-only and without HDF5 file locking, again for every change it notices, so it never
holds the measurement up and a crash of either side leaves the other untouched.
:mod:`mtj_hil.live.snapshot` turns a run file into the JSON the page draws; the page itself
(``static/``) is plain HTML and JavaScript drawing on canvases, with no asset from outside.
"""
