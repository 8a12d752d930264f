/**
 * Base64 ⇄ UTF-8 text, the form of string attributes in a GraphDef's JSON,
 * with what every JavaScript runtime has (atob/btoa, TextEncoder/TextDecoder),
 * not Node's Buffer, so the rewriting pass also runs in a browser. Like
 * Buffer, decoding accepts the URL-safe alphabet and missing padding, stops
 * at the first '=', skips other characters, and replaces malformed UTF-8 with
 * U+FFFD.
 */
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function decodeBase64Text(base64: string): string {
  const standard = base64.split('=')[0].replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '');
  const binary = atob(standard.length % 4 === 1 ? standard.slice(0, -1) : standard);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

export function encodeBase64Text(text: string): string {
  let binary = '';
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
