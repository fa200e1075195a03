import { S3Error } from './errors';

/** Just enough XML for S3: escaping for the answers we write, and tag extraction for the two bodies we read. */

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function xmlUnescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#\d+);/g, (_, e: string) => {
    switch (e) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
      default: {
        const cp = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        // XML 1.0 `Char`: a reference to anything else (a surrogate, U+FFFE, past U+10FFFF) is not well-formed XML.
        if (!isXmlChar(cp)) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.', 400);
        return String.fromCodePoint(cp);
      }
    }
  });
}

/** XML 1.0 §2.2 `Char` production. */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Inner texts of every `<tag>…</tag>` (no nesting of the same tag, which S3 request bodies never have). */
export function allTags(xml: string, tag: string): string[] {
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g');
  return [...xml.matchAll(re)].map((m) => m[1]!);
}

export function firstTag(xml: string, tag: string): string | undefined {
  return allTags(xml, tag)[0];
}

export const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n';
export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** `<Tag>escaped value</Tag>`, or '' when value is undefined. */
export function el(tag: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${tag}>${xmlEscape(String(value))}</${tag}>`;
}
