/*
 * view_html.c — `weft view --html`: one self-contained HTML page (inline CSS and JS, no network
 * fetch, no external script) with the waterfall of view.h, the trace summary, and each span's
 * details (input, output, metadata, retrieval hits, citations, events) on click.
 *
 * The trace travels as JSON in <script type="application/json" id="weft-data">: the
 * TraceFullResult (weft_trace_full_result_to_json) and the layout's rows. Inside it every '<',
 * '>' and '&' is written as \u003c, \u003e, \u0026 (they only occur inside JSON strings, where
 * the escape means the same character), so no span text can close the script element. The page
 * script reads it with JSON.parse and builds the DOM with textContent only, never innerHTML, so
 * span text is never markup. Each waterfall row carries data-span-id; when drawing ends,
 * <body> gets data-rendered="<rows>" (the browser test reads both).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"
#include "weft/version.h"

static const char css[] =
    ":root{--bg:#fff;--fg:#1d2330;--mut:#6b7385;--line:#e3e6ee;--sel:#eef3ff;--llm:#8e44ad;--ret:#138d9c;"
    "--tool:#c98a00;--other:#3d6fd6;--err:#d33a2c}\n"
    "*{box-sizing:border-box}body{margin:0;font:13px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "header{padding:12px 16px;border-bottom:1px solid var(--line)}h1{font-size:15px;margin:0 0 6px}"
    "h1 code{font-weight:normal;color:var(--mut)}\n"
    ".stats{display:flex;flex-wrap:wrap;gap:6px 18px}.stats div{white-space:nowrap}.stats b{font-weight:600}"
    ".stats span{color:var(--mut);margin-right:4px}\n"
    ".status-ERROR{color:var(--err);font-weight:600}.status-SUCCESS{color:#1f8a3b;font-weight:600}\n"
    "main{display:flex;height:calc(100vh - 74px);min-height:300px}\n"
    "#waterfall{flex:3;overflow:auto;border-right:1px solid var(--line)}\n"
    "#details{flex:2;overflow:auto;padding:12px 16px;min-width:280px}\n"
    ".row,.axis{display:grid;grid-template-columns:minmax(180px,32%) 1fr 72px 64px 72px;align-items:center;"
    "min-height:22px;border-bottom:1px solid #f2f3f7}\n"
    ".axis{position:sticky;top:0;background:#fafbfd;color:var(--mut);font-size:11px;z-index:1}\n"
    ".row{cursor:pointer}.row:hover{background:#f7f9fc}.row.selected{background:var(--sel)}"
    ".row:focus{outline:1px dotted var(--other)}\n"
    ".name{overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding-right:6px}\n"
    ".row.error .name{color:var(--err)}.mark{color:var(--err);font-weight:700}\n"
    ".track{position:relative;height:14px;margin:0 6px;background:repeating-linear-gradient(90deg,transparent 0,"
    "transparent calc(25% - 1px),#eef0f5 calc(25% - 1px),#eef0f5 25%)}\n"
    ".ticks{position:relative;height:14px;margin:0 6px}.ticks span{position:absolute;white-space:nowrap;transform:translateX(-50%)}"
    ".ticks span:first-child{transform:none}.ticks span:last-child{transform:translateX(-100%)}\n"
    ".bar{position:absolute;top:2px;bottom:2px;min-width:2px;border-radius:2px;background:var(--other)}\n"
    ".k-llm{background:var(--llm)}.k-ret{background:var(--ret)}.k-tool{background:var(--tool)}"
    ".row.error .bar{background:var(--err)}\n"
    ".row.running .bar{background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.45) 0,"
    "rgba(255,255,255,.45) 4px,transparent 4px,transparent 8px)}\n"
    ".num{text-align:right;padding-right:8px;font-variant-numeric:tabular-nums;color:#39404f}\n"
    "#details h2{font-size:14px;margin:0 0 8px;word-break:break-all}#details h3{font-size:12px;margin:14px 0 4px;"
    "text-transform:uppercase;letter-spacing:.04em;color:var(--mut)}\n"
    "#details table{border-collapse:collapse;width:100%}#details td,#details th{text-align:left;padding:2px 6px;"
    "border-bottom:1px solid #f0f1f5;vertical-align:top}#details th{color:var(--mut);font-weight:500;width:8em}\n"
    "pre{margin:0;padding:8px;background:#f6f7fa;border-radius:4px;white-space:pre-wrap;word-break:break-word;"
    "font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;max-height:320px;overflow:auto}\n"
    ".err-text{color:var(--err)}.legend{color:var(--mut);font-size:11px;padding:6px 8px}"
    ".legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}\n";

static const char js[] =
    "(function(){'use strict';\n"
    "var data=JSON.parse(document.getElementById('weft-data').textContent);\n"
    "var t=data.trace,spans=t.spans,rows=data.rows,total=data.total_ms>0?data.total_ms:1;\n"
    "function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;"
    "if(text!==undefined&&text!==null)e.textContent=String(text);return e;}\n"
    "function ms(v){if(v===null||v===undefined)return '-';if(v<1)return Math.round(v*1000)+' \\u00b5s';"
    "if(v<10)return v.toFixed(2)+' ms';if(v<1000)return v.toFixed(1)+' ms';if(v<60000)return (v/1000).toFixed(2)+' s';"
    "var m=Math.floor(v/60000),s=Math.floor(v/1000)%60;return m+'m'+(s<10?'0':'')+s+'s';}\n"
    "function int(n){return n===null||n===undefined?'-':String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g,',');}\n"
    "function cost(c){return c===null||c===undefined?'-':'$'+(c!==0&&c<0.0001?c.toFixed(6):c.toFixed(4));}\n"
    "function kind(k){switch(k){case 'COMPLETION':case 'COMPLETION_INPUT':return 'k-llm';case 'KB_RETRIEVAL':"
    "case 'DOCUMENT_SEARCH':case 'FILE_RETRIEVAL':case 'RERANKING':return 'k-ret';case 'CODE_EXECUTION':"
    "case 'EXTERNAL_ENDPOINT':return 'k-tool';default:return 'k-other';}}\n"
    "function json(v){return JSON.stringify(v,null,2);}\n"
    /* summary */
    "var s=t.summary,h=document.getElementById('summary');\n"
    "var h1=el('h1');h1.appendChild(document.createTextNode('Trace '));h1.appendChild(el('code','',t.trace_id));"
    "h.appendChild(h1);\n"
    "var st=el('div','stats');function stat(k,v,c){var d=el('div');d.appendChild(el('span','',k));"
    "d.appendChild(el('b',c||'',v));st.appendChild(d);}\n"
    "stat('status',s.status,'status-'+s.status);stat('duration',ms(s.duration_ms));stat('spans',int(s.span_count));"
    "stat('LLM calls',int(s.llm_calls));stat('tool calls',int(s.tool_calls));stat('retrievals',int(s.retrieval_calls));"
    "stat('tokens',int(s.total_tokens)+' ('+int(s.input_tokens)+' in, '+int(s.output_tokens)+' out)');"
    "stat('cost',cost(s.total_cost));stat('messages',int(s.message_count));\n"
    "var dg=t.diagnostics||{};var nd=(dg.errors||[]).length+(dg.in_progress||[]).length+(dg.truncations||[]).length"
    "+(dg.dropped||[]).length;if(nd)stat('diagnostics',nd+' finding'+(nd===1?'':'s'),'err-text');\n"
    "if(s.tags&&s.tags.length)stat('tags',s.tags.join(', '));h.appendChild(st);\n"
    /* axis */
    "var wf=document.getElementById('waterfall');var ax=el('div','axis');ax.appendChild(el('div','name','span'));"
    "var tk=el('div','ticks');for(var q=0;q<=4;q++){var sp=el('span','',ms(total*q/4));sp.style.left=(q*25)+'%';"
    "tk.appendChild(sp);}ax.appendChild(tk);ax.appendChild(el('div','num','duration'));"
    "ax.appendChild(el('div','num','tokens'));ax.appendChild(el('div','num','cost'));wf.appendChild(ax);\n"
    /* rows */
    "var els=[],cur=-1,frag=document.createDocumentFragment();\n"
    "rows.forEach(function(r,i){var x=spans[r[0]];var row=el('div','row'+(x.status==='ERROR'?' error':'')+"
    "(r[4]?' running':''));row.setAttribute('data-span-id',x.span_id);row.setAttribute('role','button');"
    "row.tabIndex=0;\n"
    " var nm=el('div','name');nm.style.paddingLeft=(Math.min(r[1],40)*14+6)+'px';"
    "if(x.status==='ERROR')nm.appendChild(el('span','mark','\\u2717 '));nm.appendChild(el('span','',x.name));"
    "nm.title=x.name+' ('+x.kind+')';\n"
    " var tr=el('div','track'),b=el('div','bar '+kind(x.kind));var l=r[2]/total*100,w=Math.max(r[3]/total*100,0.2);"
    "if(l>100)l=100;if(l+w>100)w=Math.max(100-l,0.2);b.style.left=l+'%';b.style.width=w+'%';"
    "b.title=ms(r[3]);tr.appendChild(b);\n"
    " row.appendChild(nm);row.appendChild(tr);row.appendChild(el('div','num',r[4]?'running':ms(r[3])));"
    "row.appendChild(el('div','num',int(r[5])));row.appendChild(el('div','num',cost(r[6])));\n"
    " row.addEventListener('click',function(){select(i);});\n"
    " row.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){select(i);e.preventDefault();}"
    "else if(e.key==='ArrowDown'&&i+1<els.length){select(i+1);els[i+1].focus();e.preventDefault();}"
    "else if(e.key==='ArrowUp'&&i>0){select(i-1);els[i-1].focus();e.preventDefault();}});\n"
    " els.push(row);frag.appendChild(row);});\n"
    "wf.appendChild(frag);\n"
    "var lg=el('div','legend');[['k-llm','LLM call'],['k-ret','retrieval'],['k-tool','tool'],['k-other','other'],"
    "['err','error']].forEach(function(p){var i=el('i','bar '+p[0]);i.style.position='static';"
    "if(p[0]==='err')i.style.background='var(--err)';lg.appendChild(i);lg.appendChild(document.createTextNode(p[1]));});"
    "wf.appendChild(lg);\n"
    /* details */
    "var det=document.getElementById('details');\n"
    "function section(title,node){det.appendChild(el('h3','',title));det.appendChild(node);}\n"
    "function kvTable(pairs){var tb=el('table');pairs.forEach(function(p){if(p[1]===null||p[1]===undefined)return;"
    "var tr=el('tr');tr.appendChild(el('th','',p[0]));var td=el('td',p[2]||'',p[1]);tr.appendChild(td);"
    "tb.appendChild(tr);});return tb;}\n"
    "function has(v){return v!==null&&v!==undefined&&!(typeof v==='object'&&Object.keys(v).length===0);}\n"
    "function show(x,r){det.textContent='';det.appendChild(el('h2','',x.name));\n"
    " var a=x.attributes||{};var err=(dg.errors||[]).filter(function(e){return e.span_id===x.span_id;});\n"
    " det.appendChild(kvTable([['span_id',x.span_id],['parent',x.parent_span_id],['kind',x.kind],"
    "['status',x.status,x.status==='ERROR'?'err-text':''],['start',x.start_time],['end',x.end_time||'running'],"
    "['duration',r[4]?'running':ms(r[3])],['offset',ms(r[2])],['tokens',r[5]===null?null:int(r[5])],"
    "['cost',r[6]===null?null:cost(r[6])]]));\n"
    " err.forEach(function(e){section('error',el('pre','err-text',e.message));});\n"
    " if(has(a.input))section('input',el('pre','',json(a.input)));\n"
    " if(has(a.output))section('output',el('pre','',json(a.output)));\n"
    " var ret=(t.retrievals||[]).filter(function(q){return q.span_id===x.span_id;})[0];\n"
    " if(ret&&ret.hits&&ret.hits.length){var tb=el('table');var hd=el('tr');['rank','doc_id','score','snippet']"
    ".forEach(function(c){hd.appendChild(el('th','',c));});tb.appendChild(hd);ret.hits.forEach(function(hh){"
    "var tr=el('tr');tr.appendChild(el('td','',hh.rank));tr.appendChild(el('td','',hh.doc_id));"
    "tr.appendChild(el('td','',typeof hh.score==='number'?hh.score.toFixed(4):hh.score));"
    "tr.appendChild(el('td','',hh.snippet_preview));tb.appendChild(tr);});"
    "section('retrieval hits'+(ret.query?' for \\u201c'+ret.query+'\\u201d':''),tb);}\n"
    " var cit=a.output&&a.output.citations;if(cit&&cit.length){var ul=el('table');var hd2=el('tr');"
    "['doc_id','span','confidence'].forEach(function(c){hd2.appendChild(el('th','',c));});ul.appendChild(hd2);"
    "cit.forEach(function(c){var tr=el('tr');tr.appendChild(el('td','',c.doc_id));"
    "tr.appendChild(el('td','',c.span?c.span.join('\\u2013'):'-'));tr.appendChild(el('td','',"
    "c.confidence===undefined?'-':c.confidence));ul.appendChild(tr);});section('citations',ul);}\n"
    " if(has(a.metadata))section('metadata',el('pre','',json(a.metadata)));\n"
    " if(x.events&&x.events.length)section('events',el('pre','',json(x.events)));\n"
    " var rest={};Object.keys(a).forEach(function(k){if(k!=='input'&&k!=='output'&&k!=='metadata')rest[k]=a[k];});"
    "if(has(rest))section('other fields',el('pre','',json(rest)));}\n"
    "function select(i){if(cur>=0)els[cur].classList.remove('selected');cur=i;els[i].classList.add('selected');"
    "show(spans[rows[i][0]],rows[i]);}\n"
    "var want=(location.hash.match(/^#span=(.+)$/)||[])[1],pick=0;if(want){want=decodeURIComponent(want);"
    "for(var k=0;k<rows.length;k++)if(spans[rows[k][0]].span_id===want){pick=k;break;}}\n"
    "if(els.length)select(pick);\n"
    "document.body.setAttribute('data-rendered',String(els.length));\n"
    "})();\n";

/* Writes s with '<', '>' and '&' as JSON escapes (see the file comment). */
static int put_escaped(FILE *f, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '<' ? "\\u003c" : *s == '>' ? "\\u003e" : *s == '&' ? "\\u0026" : NULL;
        if (!rep)
            continue;
        if (s > run)
            fwrite(run, 1, (size_t)(s - run), f);
        fputs(rep, f);
        run = s + 1;
    }
    if (s > run)
        fwrite(run, 1, (size_t)(s - run), f);
    return ferror(f) ? -1 : 0;
}

/* Text for an HTML element (the <title>): &, <, > and " as entities. */
static void put_html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int view_write_html(FILE *f, const weft_trace_full_result *t, const view_layout *l)
{
    char *full = weft_trace_full_result_to_json(t);
    if (!full)
        return -1;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
          /* Nothing may be fetched: the page is whole as written. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
          "script-src 'unsafe-inline'; img-src data:\">\n<title>weft trace ",
          f);
    put_html(f, t->trace_id);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n"
               "<header id=\"summary\"></header>\n<main><div id=\"waterfall\"></div><aside id=\"details\"></aside></main>\n"
               "<script type=\"application/json\" id=\"weft-data\">",
            css);
    fprintf(f, "{\"generator\":\"weft %s\",\"total_ms\":%.6f,\"rows\":[", WEFT_VERSION_STRING, l->total_ms);
    for (size_t i = 0; i < l->n; i++) {
        const view_row *r = &l->rows[i];
        fprintf(f, "%s[%zu,%d,%.6f,%.6f,%s,", i ? "," : "", r->span, r->depth, r->start_ms, r->dur_ms,
                r->running ? "true" : "false");
        if (r->has_tokens)
            fprintf(f, "%lld,", (long long)r->tokens);
        else
            fputs("null,", f);
        if (r->has_cost)
            fprintf(f, "%.10g]", r->cost);
        else
            fputs("null]", f);
    }
    fputs("],\"trace\":", f);
    int rc = put_escaped(f, full);
    free(full);
    fprintf(f, "}</script>\n<script>\n%s</script>\n</body></html>\n", js);
    return rc || ferror(f) ? -1 : 0;
}
