// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: the one print path. An object describes its columns once
 * (struct tdc_col) and prints each row field by field; this file turns that
 * into
 *   - an aligned table with a header (default): cells are kept until the
 *     end, so that every column is as wide as its widest cell;
 *   - tab-separated lines without a header (-t), for scripts;
 *   - a JSON array of objects (-j, indented with -p).
 * An absent field is "-" in the table and TSV, and no key in JSON.
 *
 * Besides rows, an object of named values (tdc_obj_begin: region show,
 * stats), possibly with a list of rows in it, and a line of named values
 * (tdc_line_begin: one monitor event).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/tinydsm.h>

#include "tinydsmctl.h"

#define JS_MAX_DEPTH	8

struct kv {
	char *key, *value;
};

static struct {
	const struct tdc_col *cols;
	int ncols;
	int col;		/* the next field of the row (TSV) */
	const char *tsv_tag;	/* a list in an object: the first TSV field */
	bool in_list;		/* the rows are a list inside an object */
	bool one;		/* one row: in JSON the object, not an array */
	/* the table: nrows * ncols cells, strdup()ed */
	char **cells;
	size_t nrows, cap;
	/* an object's named values, for the table (aligned at the end) */
	struct kv *kvs;
	size_t nkv, kvcap;
	bool in_line;		/* a line of named values */
	/* JSON */
	int depth;
	bool first[JS_MAX_DEPTH];
} pr;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fputs("tinydsmctl: out of memory\n", stderr);
		exit(TDC_EXIT_FAIL);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		fputs("tinydsmctl: out of memory\n", stderr);
		exit(TDC_EXIT_FAIL);
	}
	return d;
}

/*
 * A node set as the module's ABI 2 reports it (page info holders,
 * TINYDSM_A_HOLDERS64): bit n - 1 is node n, nodes 1..64.
 */
static bool node_in(uint64_t set, int n)
{
	return set >> (n - 1) & 1;
}

/* Room for every node of a set: "1,2,...,64". */
#define NODES_TEXT_MAX	200

/* "1,3" for nodes 1 and 3; "-" for none. */
static void nodes_text(uint64_t set, char *buf, size_t size)
{
	size_t len = 0;
	int n;

	buf[0] = '\0';
	for (n = 1; n <= TINYDSM_MAX_NODES - 1 && len < size; n++)
		if (node_in(set, n))
			len += snprintf(buf + len, size - len, "%s%d",
					len ? "," : "", n);
	if (!len)
		snprintf(buf, size, "-");
}

/* ---- JSON ---- */

static void js_string(const char *s)
{
	const unsigned char *p;

	putchar('"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void js_newline(const struct tdc *t)
{
	int i;

	if (!t->pretty)
		return;
	putchar('\n');
	for (i = 0; i < pr.depth; i++)
		fputs("    ", stdout);
}

/* Start a value: the comma, the indentation, the key in an object. */
static void js_item(const struct tdc *t, const char *key)
{
	if (pr.depth > 0) {
		if (!pr.first[pr.depth])
			putchar(',');
		pr.first[pr.depth] = false;
		if (t->pretty)
			js_newline(t);
	}
	if (key) {
		js_string(key);
		fputs(t->pretty ? ": " : ":", stdout);
	}
}

static void js_open(const struct tdc *t, const char *key, char c)
{
	js_item(t, key);
	putchar(c);
	if (pr.depth + 1 < JS_MAX_DEPTH)
		pr.depth++;
	pr.first[pr.depth] = true;
}

static void js_close(const struct tdc *t, char c)
{
	bool empty = pr.first[pr.depth];

	if (pr.depth > 0)
		pr.depth--;
	if (!empty)
		js_newline(t);
	putchar(c);
}

/* ---- table ---- */

static void table_cell(const char *s)
{
	size_t i = (pr.nrows - 1) * pr.ncols + pr.col;

	free(pr.cells[i]);
	pr.cells[i] = xstrdup(s);
}

static void table_print_row(char *const *cells, const int *width)
{
	const char *s;
	int c;

	for (c = 0; c < pr.ncols; c++) {
		s = cells[c] ? cells[c] : "-";
		if (pr.cols[c].right)
			printf("%*s", width[c], s);
		else if (c < pr.ncols - 1)
			printf("%-*s", width[c], s);
		else
			fputs(s, stdout);	/* no trailing blanks */
		fputs(c < pr.ncols - 1 ? "  " : "\n", stdout);
	}
}

static void table_print(void)
{
	char **titles;
	int *width;
	size_t r;
	int c, len;

	width = xrealloc(NULL, sizeof(*width) * pr.ncols);
	titles = xrealloc(NULL, sizeof(*titles) * pr.ncols);
	for (c = 0; c < pr.ncols; c++) {
		titles[c] = (char *)pr.cols[c].title;
		width[c] = (int)strlen(titles[c]);
		for (r = 0; r < pr.nrows; r++) {
			const char *s = pr.cells[r * pr.ncols + c];

			len = s ? (int)strlen(s) : 1;
			if (len > width[c])
				width[c] = len;
		}
	}
	table_print_row(titles, width);
	for (r = 0; r < pr.nrows; r++)
		table_print_row(pr.cells + r * pr.ncols, width);
	for (r = 0; r < pr.nrows * pr.ncols; r++)
		free(pr.cells[r]);
	free(pr.cells);
	free(titles);
	free(width);
	pr.cells = NULL;
	pr.nrows = 0;
	pr.cap = 0;
}

/* ---- an object's named values in the table: "key  value" lines ---- */

static void kv_add(const char *key, const char *value)
{
	if (pr.nkv == pr.kvcap) {
		pr.kvcap = pr.kvcap ? 2 * pr.kvcap : 16;
		pr.kvs = xrealloc(pr.kvs, sizeof(*pr.kvs) * pr.kvcap);
	}
	pr.kvs[pr.nkv].key = xstrdup(key);
	pr.kvs[pr.nkv].value = xstrdup(value);
	pr.nkv++;
}

static void kv_flush(void)
{
	size_t i;
	int width = 0, len;

	for (i = 0; i < pr.nkv; i++) {
		len = (int)strlen(pr.kvs[i].key);
		if (len > width)
			width = len;
	}
	for (i = 0; i < pr.nkv; i++) {
		printf("%-*s  %s\n", width, pr.kvs[i].key, pr.kvs[i].value);
		free(pr.kvs[i].key);
		free(pr.kvs[i].value);
	}
	free(pr.kvs);
	pr.kvs = NULL;
	pr.nkv = 0;
	pr.kvcap = 0;
}

/* ---- the print path ---- */

static void print_columns(const struct tdc_col *cols, int ncols, bool one)
{
	pr.cols = cols;
	pr.ncols = ncols;
	pr.in_list = false;
	pr.one = one;
	pr.tsv_tag = NULL;
}

void tdc_print_begin(struct tdc *t, const struct tdc_col *cols, int ncols)
{
	print_columns(cols, ncols, false);
	if (t->fmt == TDC_FMT_JSON)
		js_open(t, NULL, '[');
}

void tdc_print_begin_one(struct tdc *t, const struct tdc_col *cols, int ncols)
{
	(void)t;
	print_columns(cols, ncols, true);
}

void tdc_print_end(struct tdc *t)
{
	switch (t->fmt) {
	case TDC_FMT_JSON:
		if (!pr.one)
			js_close(t, ']');
		if (!pr.in_list)
			putchar('\n');
		break;
	case TDC_FMT_TEXT:
		table_print();
		break;
	case TDC_FMT_TSV:
		break;
	}
	pr.in_list = false;
	pr.one = false;
	pr.tsv_tag = NULL;
}

void tdc_obj_begin(struct tdc *t)
{
	pr.in_line = false;
	if (t->fmt == TDC_FMT_JSON)
		js_open(t, NULL, '{');
}

void tdc_obj_end(struct tdc *t)
{
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_close(t, '}');
		putchar('\n');
		break;
	case TDC_FMT_TEXT:
		kv_flush();
		break;
	case TDC_FMT_TSV:
		break;
	}
}

void tdc_print_list_begin(struct tdc *t, const char *key,
			  const struct tdc_col *cols, int ncols)
{
	pr.cols = cols;
	pr.ncols = ncols;
	pr.in_list = true;
	pr.tsv_tag = key;
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_open(t, key, '[');
		break;
	case TDC_FMT_TEXT:
		/* The values so far, a blank line, then the table. */
		kv_flush();
		putchar('\n');
		break;
	case TDC_FMT_TSV:
		break;
	}
}

void tdc_print_list_end(struct tdc *t)
{
	tdc_print_end(t);
}

void tdc_line_begin(struct tdc *t, const char *tag, const char *name)
{
	pr.in_line = true;
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_open(t, NULL, '{');
		js_item(t, tag);
		js_string(name);
		break;
	case TDC_FMT_TEXT:
	case TDC_FMT_TSV:
		fputs(name, stdout);
		break;
	}
}

void tdc_line_end(struct tdc *t)
{
	if (t->fmt == TDC_FMT_JSON)
		js_close(t, '}');
	putchar('\n');
	pr.in_line = false;
	fflush(stdout);
}

/* A named value as text: "key  value" of the object, or " key=value". */
static void kv_text(struct tdc *t, const char *key, const char *value)
{
	if (pr.in_line) {
		printf("%c%s=%s", t->fmt == TDC_FMT_TSV ? '\t' : ' ', key, value);
		return;
	}
	if (t->fmt == TDC_FMT_TSV)
		printf("%s\t%s\n", key, value);
	else
		kv_add(key, value);
}

void tdc_kv_uint(struct tdc *t, const char *key, uint64_t v)
{
	char buf[24];

	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, key);
		printf("%" PRIu64, v);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	kv_text(t, key, buf);
}

void tdc_kv_hex(struct tdc *t, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%#" PRIx64, v);
	tdc_kv_str(t, key, buf);
}

void tdc_kv_str(struct tdc *t, const char *key, const char *s)
{
	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, key);
		js_string(s);
		return;
	}
	kv_text(t, key, s);
}

void tdc_kv_errno(struct tdc *t, const char *key, int32_t err)
{
	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, key);
		printf("%" PRId32, err);
		return;
	}
	kv_text(t, key, err ? tdc_errno_name(err) : "0");
}

/* A node set in JSON: @key: [1, 3], the ids of its nodes. */
static void js_nodes(struct tdc *t, const char *key, uint64_t set)
{
	int n;

	js_open(t, key, '[');
	for (n = 1; n <= TINYDSM_MAX_NODES - 1; n++) {
		if (!node_in(set, n))
			continue;
		js_item(t, NULL);
		printf("%d", n);
	}
	js_close(t, ']');
}

void tdc_kv_nodes(struct tdc *t, const char *key, uint64_t set)
{
	char buf[NODES_TEXT_MAX];

	if (t->fmt == TDC_FMT_JSON) {
		js_nodes(t, key, set);
		return;
	}
	nodes_text(set, buf, sizeof(buf));
	kv_text(t, key, buf);
}

void tdc_row_begin(struct tdc *t)
{
	size_t i;

	pr.col = 0;
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_open(t, NULL, '{');
		break;
	case TDC_FMT_TEXT:
		if (pr.nrows == pr.cap) {
			pr.cap = pr.cap ? 2 * pr.cap : 16;
			pr.cells = xrealloc(pr.cells, sizeof(*pr.cells) *
					    pr.cap * pr.ncols);
		}
		pr.nrows++;
		for (i = 0; i < (size_t)pr.ncols; i++)
			pr.cells[(pr.nrows - 1) * pr.ncols + i] = NULL;
		break;
	case TDC_FMT_TSV:
		if (pr.tsv_tag)
			printf("%s\t", pr.tsv_tag);
		break;
	}
}

void tdc_row_end(struct tdc *t)
{
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_close(t, '}');
		break;
	case TDC_FMT_TSV:
		/* Fields never printed still get their column. */
		for (; pr.col < pr.ncols; pr.col++)
			fputs(pr.col ? "\t-" : "-", stdout);
		putchar('\n');
		break;
	case TDC_FMT_TEXT:
		break;
	}
}

/* A field as text: a cell of the table, or the next TSV field. */
static void field(struct tdc *t, int col, const char *s)
{
	if (t->fmt == TDC_FMT_TEXT) {
		pr.col = col;
		table_cell(s);
		return;
	}
	/* Fields skipped in between are "-": keep the columns aligned. */
	for (; pr.col < col; pr.col++)
		fputs(pr.col ? "\t-" : "-", stdout);
	printf("%s%s", col ? "\t" : "", s);
	pr.col = col + 1;
}

void tdc_print_uint(struct tdc *t, int col, uint64_t v)
{
	char buf[24];

	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, pr.cols[col].key);
		printf("%" PRIu64, v);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	field(t, col, buf);
}

void tdc_print_int(struct tdc *t, int col, int64_t v, const char *text)
{
	char buf[24];

	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, pr.cols[col].key);
		printf("%" PRId64, v);
		return;
	}
	if (!text) {
		snprintf(buf, sizeof(buf), "%" PRId64, v);
		text = buf;
	}
	field(t, col, text);
}

void tdc_print_str(struct tdc *t, int col, const char *s)
{
	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, pr.cols[col].key);
		js_string(s);
		return;
	}
	field(t, col, s);
}

void tdc_print_decimal(struct tdc *t, int col, const char *s)
{
	if (t->fmt == TDC_FMT_JSON) {
		js_item(t, pr.cols[col].key);
		fputs(s && s[0] && strspn(s, "0123456789.") == strlen(s) ? s : "0",
		      stdout);
		return;
	}
	field(t, col, s ? s : "-");
}

void tdc_print_words(struct tdc *t, int col, const char *const *words, int n)
{
	char buf[256] = "";
	size_t len = 0;
	int i;

	if (t->fmt == TDC_FMT_JSON) {
		js_open(t, pr.cols[col].key, '[');
		for (i = 0; i < n; i++) {
			js_item(t, NULL);
			js_string(words[i]);
		}
		js_close(t, ']');
		return;
	}
	for (i = 0; i < n && len < sizeof(buf); i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
				i ? "," : "", words[i]);
	field(t, col, n ? buf : "-");
}

void tdc_print_none(struct tdc *t, int col)
{
	if (t->fmt != TDC_FMT_JSON)
		field(t, col, "-");
}

void tdc_print_hex(struct tdc *t, int col, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%#" PRIx64, v);
	tdc_print_str(t, col, buf);
}

void tdc_print_nodes(struct tdc *t, int col, uint64_t set)
{
	char buf[NODES_TEXT_MAX];

	if (t->fmt == TDC_FMT_JSON) {
		js_nodes(t, pr.cols[col].key, set);
		return;
	}
	nodes_text(set, buf, sizeof(buf));
	field(t, col, buf);
}
