"""Draw a PDF scan's first pages and read their QR codes, in a process of its own.

PDFium (pypdfium2) must never run in two threads of one process at once, and the web
workers are threaded (gthread); and a hostile PDF can take any time or memory to draw.
So ``regform.read_codes`` runs this file as a child process (by its path: it imports
nothing of the app), with a timeout, and the child limits its own address space before
it opens the file. It prints one JSON object: ``{"codes": [...]}``, or
``{"broken": true}`` when PDFium cannot open the file.

    python scan_pages.py FILE MAX_PAGES DPI MAX_PIXELS
"""

import json
import math
import resource
import sys

#: the child's address space: PDFium, a page of at most MAX_PIXELS and zxing fit well
MEMORY_LIMIT = 1024 * 1024 * 1024


def main(path: str, max_pages: int, dpi: int, max_pixels: int) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import pypdfium2 as pdfium
    import zxingcpp

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError:
        return {"broken": True}
    found: list[str] = []
    try:
        for i in range(min(len(pdf), max_pages)):
            try:
                page = pdf[i]
            except pdfium.PdfiumError:
                continue
            try:
                width, height = page.get_size()  # points, 1/72 inch
                scale = min(dpi / 72, math.sqrt(max_pixels / max(width * height, 1.0)))
                image = page.render(scale=scale, grayscale=True).to_pil()
            except pdfium.PdfiumError:
                continue  # a page PDFium cannot draw: the scan may end up unread
            finally:
                page.close()
            for code in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
                if code.text and code.text not in found:
                    found.append(code.text)
    finally:
        pdf.close()
    return {"codes": found}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
