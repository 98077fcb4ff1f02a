"""Print forms (work order, completion act) as PDF: see printing.render.

Importing printing.render does not load WeasyPrint: the first render does, in the print
worker thread, so a server that never prints never pays for it.
"""
