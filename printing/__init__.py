"""Print forms (work order, completion act) as PDF: see printing.render."""
