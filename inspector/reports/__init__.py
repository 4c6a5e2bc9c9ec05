"""Shift and monthly reports for management: figures from the recorder's database, HTML and PDF with plots."""
