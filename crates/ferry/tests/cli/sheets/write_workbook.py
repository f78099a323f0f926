"""Independent workbook writers for crates/ferry/tests/cli/sheets.rs.

  write_workbook.py xlsx GENERATED_DIR OUT.xlsx   the generated clinic's CSV export, read with
      Python's csv module (each file in the encoding and delimiter manifest.json records), written
      with openpyxl: one sheet per table; a number cell where the text is exactly Python's repr of
      the number (and not `75.0`, which a number cell cannot hold), a date cell for a real YYYY-MM-DD / YYYY-MM-DD HH:MM:SS value of a DATE/DATETIME
      column, text otherwise (control characters written in OOXML's _xHHHH_ form, which openpyxl
      leaves to its caller).
  write_workbook.py ods OUT.ods                   a small OpenDocument sheet written with odfpy.
  write_workbook.py encrypt IN.xlsx OUT.xlsx      IN encrypted with msoffcrypto-tool (password "p").
"""
import csv
import datetime
import json
import os
import re
import sys

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f]")


def number(text):
    try:
        if re.fullmatch(r"-?[1-9][0-9]{0,14}|0", text):
            return int(text)
        x = float(text)
        # A number cell holds no trailing zeros: `75.0` is the number 75, so it stays text.
        if repr(x) == text and not text.endswith(".0") and "e" not in text:
            return x
    except ValueError:
        pass
    return None


def date(text):
    if not DATE.match(text):
        return None
    try:
        if len(text) == 10:
            d = datetime.datetime.strptime(text, "%Y-%m-%d")
        else:
            d = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if d < datetime.datetime(1900, 3, 1):
        return None
    return d


def xlsx(generated, out):
    import openpyxl

    manifest = json.load(open(os.path.join(generated, "manifest.json")))
    types = {}
    for c in manifest["columns"]:
        types[(c["table"], c["column"])] = c["sql_type"]
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for f in manifest["files"]:
        if f["format"] != "csv":
            continue
        enc = "utf-8-sig" if f["encoding"] == "UTF-8" else "cp1252"
        with open(os.path.join(generated, f["path"]), newline="", encoding=enc) as fh:
            rows = csv.reader(fh, delimiter=f["delimiter"])
            header = next(rows)
            ws = wb.create_sheet(f["table"])
            ws.append(header)
            kinds = [types.get((f["table"], h), "") for h in header]
            for row in rows:
                cells = []
                for text, kind in zip(row, kinds):
                    d = date(text) if kind.startswith(("date ", "datetime ")) else None
                    n = number(text) if d is None else None
                    if text == "":
                        cells.append(None)
                    elif d is not None:
                        cells.append(d)
                    elif n is not None and not kind.startswith(("varchar", "char", "text")):
                        cells.append(n)
                    else:
                        cells.append(CONTROL.sub(lambda m: "_x%04X_" % ord(m.group()), text))
                ws.append(cells)
                r = ws.max_row
                for i, kind in enumerate(kinds):
                    cell = ws.cell(row=r, column=i + 1)
                    if isinstance(cell.value, datetime.datetime):
                        cell.number_format = (
                            "yyyy-mm-dd hh:mm:ss" if kind.startswith("datetime ") else "yyyy-mm-dd"
                        )
    wb.save(out)


def ods(out):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableRow, TableCell
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="patients")

    def row(cells):
        tr = TableRow()
        for kind, value in cells:
            if kind == "string":
                tc = TableCell(valuetype="string")
                tc.addElement(P(text=value))
            elif kind == "float":
                tc = TableCell(valuetype="float", value=value)
                tc.addElement(P(text=value))
            elif kind == "date":
                tc = TableCell(valuetype="date", datevalue=value)
                tc.addElement(P(text=value))
            elif kind == "bool":
                tc = TableCell(valuetype="boolean", booleanvalue=value)
                tc.addElement(P(text=value.upper()))
            else:
                tc = TableCell()
            tr.addElement(tc)
        table.addElement(tr)

    row([("string", "mrn"), ("string", "zip"), ("string", "weight"), ("string", "dob"),
         ("string", "seen"), ("string", "active")])
    row([("string", "000123"), ("string", "02134"), ("float", "81.5"), ("date", "1980-02-29"),
         ("date", "2024-05-01T08:30:00"), ("bool", "true")])
    row([("string", "000124"), ("string", "10001"), ("float", "12345678901234"),
         ("date", "1975-12-31"), ("date", "2024-05-02T17:05:09"), ("bool", "false")])
    row([("empty", None)] * 6)
    row([("string", "000125"), ("empty", None), ("float", "0.1"), ("date", "2001-01-01"),
         ("date", "2024-05-03T00:00:00"), ("bool", "true")])
    doc.spreadsheet.addElement(table)
    doc.save(out)


def encrypt(src, out):
    import msoffcrypto
    import msoffcrypto.format.ooxml

    with open(src, "rb") as i, open(out, "wb") as o:
        f = msoffcrypto.format.ooxml.OOXMLFile(i)
        f.encrypt("p", o)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "xlsx":
        xlsx(sys.argv[2], sys.argv[3])
    elif what == "ods":
        ods(sys.argv[2])
    elif what == "encrypt":
        encrypt(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown: " + what)
