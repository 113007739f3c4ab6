// A small XML well-formedness check for the plot tests (no npm package): one root
// element, tags nested and closed in order, attributes quoted and unique, '&' only in entities.
const NAME = '[A-Za-z_:][-A-Za-z0-9_:.]*';
const ATTRIBUTE = new RegExp(`\\s+(${NAME})\\s*=\\s*("[^"<]*"|'[^'<]*')`, 'y');
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function textIsWellFormed(text: string): boolean {
  return !text.replace(ENTITY, '').includes('&');
}

/** Throws with the position of the first problem; returns true when the document is well-formed. */
function check(xml: string): true {
  let i = 0;
  const stack: string[] = [];
  let roots = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  if (xml.startsWith('<?xml')) {
    i = xml.indexOf('?>');
    if (i === -1) fail('unterminated XML declaration');
    i += 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    if (!textIsWellFormed(text)) fail('bad character data');
    if (stack.length === 0 && text.trim() !== '') fail('text outside the root element');
    if (lt === -1) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end === -1) fail('unterminated comment');
      i = end + 3;
      continue;
    }
    const close = new RegExp(`</(${NAME})\\s*>`, 'y');
    close.lastIndex = i;
    const closing = close.exec(xml);
    if (closing) {
      if (stack.pop() !== closing[1]) fail(`mismatched </${closing[1]}>`);
      i = close.lastIndex;
      continue;
    }
    const open = new RegExp(`<(${NAME})`, 'y');
    open.lastIndex = i;
    const opening = open.exec(xml);
    if (!opening) fail('bad markup');
    i = open.lastIndex;
    const seen = new Set<string>();
    for (;;) {
      ATTRIBUTE.lastIndex = i;
      const attribute = ATTRIBUTE.exec(xml);
      if (!attribute) break;
      if (seen.has(attribute[1]!)) fail(`duplicate attribute ${attribute[1]}`);
      if (!textIsWellFormed(attribute[2]!)) fail('bad attribute value');
      seen.add(attribute[1]!);
      i = ATTRIBUTE.lastIndex;
    }
    const end = /\s*(\/?)>/y;
    end.lastIndex = i;
    const ending = end.exec(xml);
    if (!ending) fail('bad tag');
    i = end.lastIndex;
    if (stack.length === 0) roots++;
    if (roots > 1) fail('a second root element');
    if (ending![1] !== '/') stack.push(opening![1]!);
  }
  if (stack.length > 0) fail(`unclosed <${stack.at(-1)}>`);
  if (roots !== 1) fail('no root element');
  return true;
}

export const XMLValidator = { check };
