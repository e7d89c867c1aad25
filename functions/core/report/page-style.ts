// The report page's stylesheet: one column that reads at 390 px and at 1280 px, no fixed widths
// (tables scroll inside their box, long values wrap), text colours of at least 4.5:1 contrast
// on their backgrounds, and a visible focus ring on everything reachable by keyboard.
export const PAGE_STYLE = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1040px;color:#1d1d1f;background:#fff;padding:16px}
h1{font-size:22px;line-height:1.25;margin:4px 0}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:0 0 4px}
p{margin:6px 0}.muted{color:#4a5058}
code,pre{font:13px/1.45 ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
code{background:#eef1f4;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
.card{border:1px solid #d5dae0;border-left:6px solid #4e79a7;border-radius:6px;padding:12px 14px;margin:12px 0;background:#f7f9fb}
.card.failed{border-left-color:#b3261e;background:#fdf3f2}
.route-name{font-size:20px;font-weight:700}
.meter{height:14px;background:#e4e8ec;border-radius:7px;overflow:hidden;margin:10px 0 4px}
.meter>div{height:100%;background:#2f6f4f}.meter.over>div{background:#b3261e}
.checks{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:10px}
.check{border:1px solid #d5dae0;border-radius:6px;padding:10px 12px}
.check .counts{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:4px}
.check .counts .num{font-weight:700;font-size:17px}
.status{font-weight:700}.status.ok{color:#116329}.status.failed,.bad{color:#a4211a}.status.skipped{color:#6b4500}
.warnings{padding-left:20px;margin:6px 0}.warnings li{margin:4px 0;overflow-wrap:anywhere}
.steps{list-style:none;padding:0;margin:0}.steps li{margin:10px 0}
pre.copy{margin:4px 0;padding:8px 10px;background:#eef1f4;border:1px solid #d5dae0;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere;user-select:all;-webkit-user-select:all}
pre.copy code{background:none;padding:0}
.treemap{display:block;width:100%;height:auto;margin:6px 0}
.treemap-tall{display:none}
@media (max-width:640px){.treemap-wide{display:none}.treemap-tall{display:block}body{padding:12px}}
.tile:focus{outline:none}.tile:focus .box,.tile:hover .box{stroke:#111111;stroke-width:4}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;list-style:none;margin:6px 0}
.legend li{display:flex;align-items:center;gap:6px}.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;border:1px solid #0003}
.table-box{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e0e4e8;vertical-align:top}
th{font-size:13px;color:#3a4048}td{overflow-wrap:break-word}tr:target{background:#fff3c4}
@media (max-width:640px){
table.stack,.stack tbody,.stack tr,.stack td{display:block;width:100%}.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.stack tr{border-bottom:1px solid #d5dae0;padding:6px 0}.stack td{border:0;padding:2px 4px;display:grid;grid-template-columns:7.5em 1fr;gap:8px}
.stack td::before{content:attr(data-label);font-size:13px;color:#3a4048;font-weight:600}}
a{color:#0b57a4}:focus-visible{outline:3px solid #111;outline-offset:2px}
.files{overflow-wrap:anywhere}
`;
