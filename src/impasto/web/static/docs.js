// Renders the server's OpenAPI document as a readable page, without any third-party viewer
// (those load from CDNs, and impasto must work with no internet).
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items)}[]`;
  if (schema.format === "binary" || schema.contentMediaType) return "file";
  return schema.type || "object";
}

function table(headers, rows) {
  const t = el("table");
  const head = el("tr");
  for (const h of headers) head.append(el("th", h));
  t.append(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell); else td.textContent = cell;
      tr.append(td);
    }
    t.append(tr);
  }
  return t;
}

function resolve(spec, schema) {
  return schema && schema.$ref ? spec.components.schemas[schema.$ref.split("/").pop()] : schema;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  document.getElementById("intro").textContent = `${spec.info.title} ${spec.info.version}. ${spec.info.description || ""}`;
  const root = document.getElementById("endpoints");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const card = el("section", null, "endpoint");
      const h = el("h3");
      h.append(el("span", method.toUpperCase(), `method ${method}`), path);
      card.append(h, el("p", op.summary || "", "muted"));
      const params = (op.parameters || []).map((p) => [p.name, p.in, typeOf(p.schema), p.description || ""]);
      const body = op.requestBody?.content?.["multipart/form-data"]?.schema;
      const form = resolve(spec, body);
      if (form) {
        for (const [name, prop] of Object.entries(form.properties || {})) {
          const required = (form.required || []).includes(name) ? " (required)" : "";
          params.push([name, "form" + required, typeOf(prop), prop.description || ""]);
        }
      }
      if (params.length) card.append(table(["parameter", "in", "type", "description"], params));
      const responses = Object.entries(op.responses || {}).map(([code, r]) => {
        const types = Object.entries(r.content || {}).map(([t, c]) => c.schema ? `${t}: ${typeOf(c.schema)}` : t);
        return [code, r.description || "", types.join(", ")];
      });
      card.append(table(["status", "meaning", "body"], responses));
      root.append(card);
    }
  }
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(spec.components?.schemas || {})) {
    if (name.startsWith("Body_") || name.includes("Validation")) continue;
    const box = el("section", null, "schema");
    box.append(el("h3", name));
    const rows = Object.entries(schema.properties || {}).map(([p, s]) => [p, typeOf(s), s.description || ""]);
    box.append(table(["field", "type", "description"], rows));
    schemas.append(box);
  }
}

document.addEventListener("DOMContentLoaded", main);
