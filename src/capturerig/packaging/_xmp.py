"""XMP sidecars: what a photo tool (exiftool, Lightroom, digiKam) shows about each packaged image.

Sidecars sit in ``xmp/`` beside ``images/`` rather than inside it, because gsplat's COLMAP loader pairs the
sorted file list of the image folder with the model's image names: any extra file there would shift that
pairing. Standard properties carry what they are made for (serial, exposure, times, the IPTC digital source
type); the rest is under the ``capturerig`` namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

__all__ = ["DIGITAL_CAPTURE", "NAMESPACES", "XMP_NAMESPACE_URI", "xmp_packet"]

XMP_NAMESPACE_URI = "https://capturerig.org/ns/xmp/1.0/"
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"

NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "Iptc4xmpCore": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "capturerig": XMP_NAMESPACE_URI,
}

# Properties whose XMP type is an array: rdf:Bag (unordered), rdf:Seq (ordered) or rdf:Alt (language
# alternatives). A plain string for one of them becomes a one-item array, as the specifications require.
_ARRAYS = {
    "dc:creator": "Seq",
    "dc:subject": "Bag",
    "dc:rights": "Alt",
    "dc:description": "Alt",
    "dc:title": "Alt",
    "xmpRights:UsageTerms": "Alt",
    "exif:ISOSpeedRatings": "Seq",
    "plus:ModelReleaseID": "Bag",
    "plus:PropertyReleaseID": "Bag",
    "Iptc4xmpExt:PersonInImage": "Bag",
}

for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


def _qname(name: str) -> str:
    prefix, sep, local = name.partition(":")
    if not sep or not local or prefix not in NAMESPACES or prefix in ("x", "rdf"):
        known = ", ".join(p for p in NAMESPACES if p not in ("x", "rdf"))
        raise ValueError(f"XMP property '{name}': want 'prefix:Name' with a known prefix ({known})")
    return f"{{{NAMESPACES[prefix]}}}{local}"


def xmp_packet(fields: Mapping[str, str | Sequence[str]]) -> bytes:
    """A standalone XMP packet (``.xmp`` sidecar) holding ``fields``.

    Parameters
    ----------
    fields : Mapping
        ``"prefix:Name" -> value``; a sequence of strings becomes an array (Bag unless the property is
        known to be a Seq or Alt).

    Returns
    -------
    bytes
        UTF-8 XML that exiftool and other XMP readers parse.

    Raises
    ------
    ValueError
        A property name with an unknown prefix.
    """
    rdf = NAMESPACES["rdf"]
    root = ET.Element(f"{{{NAMESPACES['x']}}}xmpmeta")
    description = ET.SubElement(ET.SubElement(root, f"{{{rdf}}}RDF"), f"{{{rdf}}}Description",
                                {f"{{{rdf}}}about": ""})
    for name in sorted(fields):
        value = fields[name]
        element = ET.SubElement(description, _qname(name))
        kind = _ARRAYS.get(name)
        if kind is None and isinstance(value, str):
            element.text = value
            continue
        items = [value] if isinstance(value, str) else list(value)
        container = ET.SubElement(element, f"{{{rdf}}}{kind or 'Bag'}")
        for item in items:
            li = ET.SubElement(container, f"{{{rdf}}}li")
            li.text = str(item)
            if kind == "Alt":
                li.set("{http://www.w3.org/XML/1998/namespace}lang", "x-default")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
            + '\n<?xpacket end="w"?>\n').encode("utf-8")
