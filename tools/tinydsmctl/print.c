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
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tinydsmctl.h"

#define JS_MAX_DEPTH	8

static struct {
	const struct tdc_col *cols;
	int ncols;
	int col;		/* the next field of the row (TSV) */
	/* the table: nrows * ncols cells, strdup()ed */
	char **cells;
	size_t nrows, cap;
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
	pr.cells[i] = strdup(s);
	if (!pr.cells[i]) {
		fputs("tinydsmctl: out of memory\n", stderr);
		exit(TDC_EXIT_FAIL);
	}
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

/* ---- the print path ---- */

void tdc_print_begin(struct tdc *t, const struct tdc_col *cols, int ncols)
{
	pr.cols = cols;
	pr.ncols = ncols;
	if (t->fmt == TDC_FMT_JSON)
		js_open(t, NULL, '[');
}

void tdc_print_end(struct tdc *t)
{
	switch (t->fmt) {
	case TDC_FMT_JSON:
		js_close(t, ']');
		putchar('\n');
		break;
	case TDC_FMT_TEXT:
		table_print();
		break;
	case TDC_FMT_TSV:
		break;
	}
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
