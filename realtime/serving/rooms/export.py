"""The class confusion matrix as files the teacher keeps: CSV for a spreadsheet, PNG for slides."""

from __future__ import annotations

import csv
import io

from PIL import Image, ImageDraw, ImageFont


def confusion_csv(matrix: list[list[int]]) -> str:
    """Rows: the digit asked for; columns: what the network read."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["asked \\ read", *range(10), "total"])
    for asked, row in enumerate(matrix):
        writer.writerow([asked, *row, sum(row)])
    return out.getvalue()


def confusion_png(matrix: list[list[int]], code: str, cell: int = 56) -> bytes:
    """A shaded 10x10 grid with the counts; the diagonal (read right) in green, misreadings in red."""
    margin, header = cell * 2, cell
    side = margin + 10 * cell + cell // 2
    image = Image.new("RGB", (side, side + header), "white")
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=cell // 3)
    small = ImageFont.load_default(size=cell // 4)
    pen.text((margin, header // 3), f"Class {code}: digit asked (rows) and digit read (columns)", fill="black",
             font=small)
    top = margin + header // 2
    largest = max(1, max(max(row) for row in matrix))
    for i in range(10):
        pen.text((margin + i * cell + cell // 2, top - cell // 2), str(i), fill="black", font=font, anchor="mm")
        pen.text((margin - cell // 2, top + i * cell + cell // 2), str(i), fill="black", font=font, anchor="mm")
    for asked, row in enumerate(matrix):
        for read, count in enumerate(row):
            strength = count / largest
            base = (46, 125, 50) if asked == read else (198, 40, 40)
            colour = tuple(round(255 - (255 - c) * strength) for c in base) if count else (248, 248, 248)
            left, upper = margin + read * cell, top + asked * cell
            box = (left, upper, left + cell - 1, upper + cell - 1)
            pen.rectangle(box, fill=colour, outline=(220, 220, 220))
            if count:
                ink = "white" if strength > 0.5 else "black"
                pen.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(count), fill=ink, font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
