/*
 * tinydsm: a model of the coherence protocol, for spin.
 *
 * What it describes, what it checks and what it leaves out: kmod/PROTOCOL.md,
 * "The model (kmod/model/)". How to run it: kmod/model/README.md.
 *
 * Three nodes (0, 1, 2), two pages. Page 0 is homed on node 0 and may
 * migrate once, to node 2; page 1 is homed on node 1. Every page starts
 * owned by its home, which holds it read-only (the zero page).
 *
 * Processes: an application per node (faults, word accesses, one migration,
 * evictions from its cache),
 * a worker per node (the INVALs and FETCHes homes send it), a server per
 * page (its home's transactions, one at a time: TDSM_PG_DIR), the
 * environment (connections that die and come back, crashes, evictions) and,
 * for the safety searches, a monitor of the invariants.
 *
 * Compile-time switches (spin -D...):
 *   NREQ=n    requests (faults, word accesses, migrations, evictions) issued
 *             in a run
 *   NFAULT=n  faults in a run: a connection dies (a timeout is its waiter
 *             killing it), or a node crashes or is evicted
 *   NOCRASH, NOWORD, NOMIG  leave crashes and evictions, word accesses, the
 *             migration out
 *   NOEVICT   leave the cache's evictions out (EVICTV: the clean-drop notice
 *             and the write-back): the model as it was before them
 *   LAZY      settle a grant in doubt as the code does: not at the
 *             reconnection, but with the next transaction on the page (its
 *             FETCH for a frame the grant installed, or the requester's own
 *             claim), and let an owner's answer to a FETCH DROP die with its
 *             connection after the owner gave the page up (needs NOMIG)
 *   LIVENESS  the LTL property "every request ends" instead of the monitor
 *   BUG_*     a deliberately broken rule; see check.sh
 */

#define N	3
#define P	2
#ifndef NREQ
#define NREQ	3
#endif
#ifndef NFAULT
#define NFAULT	1
#endif
#define MAXHOPS	3	/* NOTHOME answers a request follows (TDSM_MAX_FORWARDS) */
#if defined(LAZY) && !defined(NOMIG)
#error "LAZY settles a migration in doubt as before: build it with NOMIG"
#endif

/* A node's copy of a page. */
#define I	0	/* none */
#define S	1	/* read-only, not the owner */
#define SO	2	/* read-only, the owner */
#define E	3	/* writable, the owner */
#define X	4	/* retained: the owner's frame, unmapped, while a transfer is in doubt */

/* Requests, from a node's application to a page's home. */
#define RD	1	/* read fault */
#define WR	2	/* write fault */
#define WLD	3	/* WORD load, done at the home */
#define WST	4	/* WORD store, done at the home */
#define MIG	5	/* MIGRATE: node 2 takes page 0 over */
#define EVC	6	/* EVICTV, clean: "I dropped my read copy" (rule E1) */
#define EWB	7	/* EVICTV, write-back: "take the page I own back" (rules E2-E5) */

/* Reply status. */
#define OK	1
#define ERR	2	/* SIGBUS */
#define NH	3	/* NOTHOME: ask the home named in the reply */

/* Home -> holder messages: the worker's inbox. */
mtype = { INV_SH, INV_OWN, INV_MOVED, F_KEEP, F_DROP, F_GIVE };

#define IX(n, p)	((n) * P + (p))
#define BIT(n)		(1 << (n))
/* Connections: 0 = {0,1}, 1 = {0,2}, 2 = {1,2}. */
#define L(a, b)		((a) + (b) - 1)
#define LA(l)		((l) == 2 -> 1 : 0)
#define LB(l)		((l) == 0 -> 1 : 2)
/* Is incarnation g of the connection between a and b still up (a node to itself always is)? */
#define LIVE(a, b, g)	((a) == (b) || (lup[L(a, b)] && lgen[L(a, b)] == (g)))

/* ---- state ------------------------------------------------------------ */

/* Each node's copy of each page: state, "holds the last write" (ghost), epoch. */
byte st[N * P];
bit cur[N * P];
byte cpe[N * P];

/* Where each node thinks page 0 is homed; page 1 is always homed on node 1. */
byte hint0[N];
#define HINT(n, p)	((p) == 0 -> hint0[n] : 1)
byte migr;		/* node 2 is migrating page 0 from node migr - 1 */
bit migdone;

/* The directory entry of each page, kept by its home. */
byte home[P];
byte owner[P];
byte cs[P];		/* copyset */
byte dep[P];		/* the page's epoch: the last transaction's id */
bit lost[P];		/* its owner was evicted: every access fails */
/*
 * A grant whose send failed after it went out: the requester may have taken
 * it. The page is fenced until the connection is back and the requester's
 * copy tells (or until one of them is evicted: then it is lost).
 */
byte doubt[P];		/* requester + 1 */
byte dt[P];		/* the transaction */
byte dold[P];		/* the owner before it + 1 */
bit dmig[P];		/* it was a migration */
bit wiped[P];		/* ghost: a crash destroyed the last copy of its last write */

/* Connections and faults. */
bit lup[3];
byte lgen[3];		/* incarnation */
byte needrec[P];	/* the home of p must reconcile these nodes */
bit alive[N];
bit evicted[N];
byte nf;		/* faults so far */

/* Requests waiting at a page's server: slot IX(n, p) is node n's. */
byte rqk[N * P];
byte rqrid[N * P];
byte rqat[N * P];	/* the node it reached */
byte rqg[N * P];	/* the incarnation of the connection it came on */
#ifndef NOEVICT
/*
 * Evictions waiting at a page's server, apart from the requests: the
 * kernel's handlers run concurrently, so a notice received before its
 * connection died may be handled after the node asked for a new copy.
 */
byte evk[N * P];
byte evrid[N * P];
byte evat[N * P];
byte evg[N * P];
#endif

/*
 * Each node's application: its one request in flight and its reply. Its
 * buffer gets data only from the home it asked (each connection has its
 * own protection domain), with the reply: no state of its own.
 */
bit pend[N];
byte prid[N];		/* the request's id (its rkey, in the kernel) */
byte ppage[N];
byte res[N];
byte rhome[N];
byte nreq;

/*
 * Each page's server: the transaction whose ack it waits for, the ack, its
 * buffer (where an owner's FETCH answer lands, for the home or relayed to
 * a third node with the reply).
 */
byte ackt[P];
byte ackst[P];		/* 0 none, 1 done, 2 failed */
bit sbok[P];
bit sbcur[P];

/* Home -> node messages a node received and has not handled yet. */
chan ib[N] = [3] of { mtype, byte, byte, byte, byte, byte, byte };
			/* kind, page, transaction, dest/new home, from, incarnation, rid */

/* Scratch, inside one atomic step only. */
hidden byte ka, kb, kp, kj, kq, ko, kh;
/* Written where a line is marked "reach:": check.sh checks each was reached. */
hidden byte seen;

#define READABLE(n, p)	(st[IX(n, p)] == S || st[IX(n, p)] == SO || st[IX(n, p)] == E)
#define OWNS(n, p)	(st[IX(n, p)] == SO || st[IX(n, p)] == E || st[IX(n, p)] == X)

#ifdef LAZY
/* Node x is the requester of the write grant of p in doubt. */
#define INDOUBT(x, p)	(doubt[p] != 0 && doubt[p] - 1 == (x))
/*
 * Node x holds a frame that grant installed: the question that settles the
 * doubt, asked by a FETCH for such a frame (TDSM_FETCH_F_LIVE with the
 * grant's epoch) or by the requester's own claim. A frame retained at the
 * grant's epoch counts: the requester took the grant and then gave the page
 * up for a FETCH DROP whose answer died with its connection.
 */
#ifndef BUG_LIVE_REFUSES_RETAINED
#define GRANTED(x, p)	(st[IX(x, p)] != I && cpe[IX(x, p)] == dt[p])
#else
/* broken: only a live copy counts (a READ never claims one) */
#define GRANTED(x, p)	((st[IX(x, p)] == SO || st[IX(x, p)] == E) && \
			 cpe[IX(x, p)] == dt[p])
#endif
/* A FETCH node x answers STALE: it is asked for a frame the grant installed, and has none. */
#define REFUSES(x, p)	(INDOUBT(x, p) && !GRANTED(x, p))
#else
#define REFUSES(x, p)	0
#endif

/* ---- helpers ------------------------------------------------------------ */

inline clear_copy(c)
{
	st[c] = I;
	cur[c] = 0;
	cpe[c] = 0
}

/* Ghost: node n writes page p; every other copy and buffer of p is now stale. */
inline gwrite(n, p)
{
	kj = 0;
	do
	:: kj < N ->
		cur[IX(kj, p)] = (kj == n);
		kj++
	:: else -> break
	od;
	sbcur[p] = 0
}

/*
 * Node n lost its connection to node h: it drops the copies of h's pages
 * (and of the page it is taking over from h) that it does not own: h takes
 * them away without asking any more. A copy it owns stays, but only a
 * writable one stays mapped: a read-only one is retained, unmapped, because
 * if h evicts this node it hands the page to one of its readers, who may
 * then write it. The model does this as the connection dies: the home
 * reconciles the node only after a grace period longer than the node takes
 * to notice (see PROTOCOL.md), so nothing can tell the difference.
 */
inline drop_copies(n, h)
{
	kp = 0;
	do
	:: kp < P ->
#ifndef BUG_NO_DROP
		if
		:: HINT(n, kp) == h || (kp == 0 && n == 2 && migr == h + 1) ->
			if
			:: st[IX(n, kp)] == S -> clear_copy(IX(n, kp))
			:: st[IX(n, kp)] == SO ->
				seen = 1;	/* reach: an owned read-only copy unmapped */
				st[IX(n, kp)] = X
			:: else
			fi
		:: else
		fi;
#endif
		kp++
	:: else -> break
	od
}

/*
 * Connection l dies: everything on the wire is lost (the model never puts a
 * message on the wire: see the worker). Each end drops the copies it holds
 * of pages the other end homes; each home must reconcile the other end.
 */
inline linkdown(l)
{
	lup[l] = 0;
	ka = LA(l);
	kb = LB(l);
	if
	:: alive[ka] -> drop_copies(ka, kb)
	:: else
	fi;
	if
	:: alive[kb] -> drop_copies(kb, ka)
	:: else
	fi;
	kp = 0;
	do
	:: kp < P ->
		if
		:: home[kp] == ka && alive[ka] -> needrec[kp] = needrec[kp] | BIT(kb)
		:: home[kp] == kb && alive[kb] -> needrec[kp] = needrec[kp] | BIT(ka)
		:: else
		fi;
		kp++
	:: else -> break
	od
}

/* Node c is gone from the cluster (crashed, or evicted by tinydsmd). */
inline evict(c)
{
	evicted[c] = 1;
	kj = 0;
	do
	:: kj < 3 ->
		if
		:: (LA(kj) == c || LB(kj) == c) && lup[kj] -> linkdown(kj)
		:: else
		fi;
		kj++
	:: else -> break
	od;
	kp = 0;
	do
	:: kp < P ->
		if
		:: home[kp] != c && alive[home[kp]] -> needrec[kp] = needrec[kp] | BIT(c)
		:: else
		fi;
		kp++
	:: else -> break
	od
}

#define HOLDS(n, p)	(alive[n] && st[IX(n, p)] != I && cur[IX(n, p)])

inline crash(c)
{
	alive[c] = 0;
	evict(c);
	kp = 0;
	do
	:: kp < P ->
		clear_copy(IX(c, kp));
		rqk[IX(c, kp)] = 0; rqrid[IX(c, kp)] = 0; rqat[IX(c, kp)] = 0; rqg[IX(c, kp)] = 0;
#ifndef NOEVICT
		evk[IX(c, kp)] = 0; evrid[IX(c, kp)] = 0; evat[IX(c, kp)] = 0; evg[IX(c, kp)] = 0;
#endif
		kp++
	:: else -> break
	od;
	pend[c] = 0; prid[c] = 0; ppage[c] = 0; res[c] = 0; rhome[c] = 0;
	do
	:: nempty(ib[c]) -> ib[c]?_, _, _, _, _, _, _
	:: empty(ib[c]) -> break
	od;
	/*
	 * The last write of a page may be gone: if no live node holds it, or
	 * if c owned it (its readers may be losing their copies to INVALs
	 * already sent for c's own write). Then accesses fail, or go on at
	 * readers that kept a copy; they never return stale data.
	 */
	kp = 0;
	do
	:: kp < P ->
		if
		:: owner[kp] == c || !(HOLDS(0, kp) || HOLDS(1, kp) || HOLDS(2, kp)) -> wiped[kp] = 1
		:: else
		fi;
		kp++
	:: else -> break
	od
}

/* ---- a node's application ---------------------------------------------- */

/* Send (or resend) request k for page p to the home this node knows of. */
inline send()
{
	at = (k == MIG -> migr - 1 : HINT(n, p));
	if
	:: at == n -> g = 0
	:: at != n && lup[L(n, at)] -> g = lgen[L(n, at)]
	:: else -> res[n] = ERR		/* no connection to it: the request fails */
	fi;
	if
	:: res[n] == 0 && at != home[p] ->
		/*
		 * Not (or no longer) the home: it answers NOTHOME at once. A node
		 * taking the page over holds such requests until the migration
		 * ends; the model answers with the page's home at that point.
		 */
		res[n] = NH;
		rhome[n] = home[p]
	:: res[n] == 0 && at == home[p] ->
		/* it waits for the page's server (TDSM_PG_DIR) */
		rqk[IX(n, p)] = k;
		rqrid[IX(n, p)] = prid[n];
		rqat[IX(n, p)] = at;
		rqg[IX(n, p)] = g
	:: else
	fi
}

#ifndef NOEVICT
/*
 * Send eviction k of page p to the home this node knows of. It does not
 * follow NOTHOME: a node that is not the home takes nothing and releases
 * nothing, and the evictor keeps what it kept.
 */
inline evsend()
{
	at = HINT(n, p);
	if
	:: at != n && lup[L(n, at)] -> g = lgen[L(n, at)]
	:: else -> res[n] = ERR		/* no connection to it: the call fails */
	fi;
	if
	:: res[n] == 0 && at != home[p] -> res[n] = OK
	:: res[n] == 0 && at == home[p] ->
		evk[IX(n, p)] = k;
		evrid[IX(n, p)] = prid[n];
		evat[IX(n, p)] = at;
		evg[IX(n, p)] = g
	:: else
	fi
}
#endif

inline start(kk, pp)
{
	k = kk;
	p = pp;
	nreq++;
	pend[n] = 1;
	prid[n] = nreq;
	ppage[n] = p;
	hops = 0;
	if
	:: k == MIG ->
		migdone = 1;
		migr = hint0[n] + 1;
		hint0[n] = n	/* requests reaching it wait for the outcome */
	:: else
	fi;
#ifndef NOEVICT
	if
	:: k == EVC || k == EWB -> evsend()
	:: else -> send()
	fi
#else
	send()
#endif
}

#define CANREQ	(alive[n] && nreq < NREQ)
/* A page this node may evict: one homed elsewhere (its cache holds only those). */
#define CACHED(p)	(HINT(n, p) != n)
#ifdef NOWORD
#define WORDOK(p)	0
#else
#define WORDOK(p)	(HINT(n, p) != n)
#endif
#ifdef NOMIG
#define MIGOK	0
#else
#define MIGOK	(n == 2 && !migdone && hint0[2] != 2)
#endif

proctype app(byte n)
{
	byte p, k, at, g, hops;

	{
end_idle:
	/*
	 * Reads and writes on this node's own copies need no step: every copy
	 * a node can read must hold the last write at every moment (READS),
	 * and the write that follows a write fault is done as the page is
	 * installed; further writes change nothing the model tracks.
	 */
	do
	/* a fault, a word access or a migration: a request to the home */
	:: atomic { CANREQ && !READABLE(n, 0) -> start(RD, 0) }; goto wait
	:: atomic { CANREQ && !READABLE(n, 1) -> start(RD, 1) }; goto wait
	:: atomic { CANREQ && st[IX(n, 0)] != E -> start(WR, 0) }; goto wait
	:: atomic { CANREQ && st[IX(n, 1)] != E -> start(WR, 1) }; goto wait
	:: atomic { CANREQ && WORDOK(0) && !READABLE(n, 0) -> start(WLD, 0) }; goto wait
	:: atomic { CANREQ && WORDOK(1) && !READABLE(n, 1) -> start(WLD, 1) }; goto wait
	:: atomic { CANREQ && WORDOK(0) && st[IX(n, 0)] != E -> start(WST, 0) }; goto wait
	:: atomic { CANREQ && WORDOK(1) && st[IX(n, 1)] != E -> start(WST, 1) }; goto wait
	:: atomic { CANREQ && MIGOK -> start(MIG, 0) }; goto wait
#ifndef NOEVICT
	/*
	 * Eviction (the kernel's evictor holds TDSM_PG_FETCHING on the page
	 * throughout, so no fault of this node asks for it meanwhile: the
	 * one request in flight). A clean read copy is dropped first, then
	 * its home is told (E1); a page this node owns, mapped or retained,
	 * is written back to its home and freed only if the reply says so
	 * (E2, E3).
	 */
	:: atomic { CANREQ && CACHED(0) && st[IX(n, 0)] == S -> clear_copy(IX(n, 0)); start(EVC, 0) }; goto wait
	:: atomic { CANREQ && CACHED(1) && st[IX(n, 1)] == S -> clear_copy(IX(n, 1)); start(EVC, 1) }; goto wait
	:: atomic { CANREQ && CACHED(0) && OWNS(n, 0) -> start(EWB, 0) }; goto wait
	:: atomic { CANREQ && CACHED(1) && OWNS(n, 1) -> start(EWB, 1) }; goto wait
#endif
	od;

wait:
	/*
	 * The reply, or the death of the connection the request went on. A
	 * timeout kills the connection first (the environment's kill covers
	 * it: same effect, at any moment); a reply that arrived before that
	 * answers the call.
	 */
	atomic {
		if
		:: res[n] != 0
		:: res[n] == 0 && !LIVE(n, at, g) -> res[n] = ERR
#ifdef BUG_SILENT_WITHDRAW
		/* the requester gives up and leaves the connection up */
		:: res[n] == 0 && at != n && LIVE(n, at, g) && nf < NFAULT -> nf++; res[n] = ERR
#endif
		fi;
		do
		:: res[n] == NH && k != MIG && hops + 1 < MAXHOPS ->
			/* NOTHOME: ask the home it names */
			seen = 1;	/* reach: a NOTHOME followed */
			hops++;
			hint0[n] = rhome[n];
			res[n] = 0;
			rhome[n] = 0;
			send()
		:: else -> break
		od;
		if
		:: res[n] == 0 -> goto wait
		:: else
		fi;
		/* Done: answered, or failed (SIGBUS) -- and only ever after a fault. */
		assert(res[n] == OK || nf > 0);
		if
		:: k == MIG && res[n] != OK -> hint0[n] = migr - 1
		:: else
		fi;
		if
		:: k == MIG -> migr = 0
		:: else
		fi;
		pend[n] = 0; prid[n] = 0; ppage[n] = 0; res[n] = 0; rhome[n] = 0;
		p = 0; k = 0; at = 0; g = 0; hops = 0
	};
	goto end_idle
	} unless { !alive[n] }
}

/* ---- a node's worker: INVAL and FETCH from homes ------------------------ */

proctype worker(byte n)
{
	mtype kind;
	byte p, t, a, from, g, rid, c;
	bit live, ok, land;
#ifdef LAZY
	bit stale;
#endif

end_idle:
	do
	:: atomic { alive[n] && nempty(ib[n]) ->
		ib[n]?kind, p, t, a, from, g, rid;
		live = LIVE(n, from, g);
		/*
		 * A message on a connection that died since: it was received
		 * and is handled late, or it was lost on the wire.
		 */
		if
		:: live -> ok = 1
		:: !live ->
			seen = 1;	/* reach: a message handled after its connection died */
			ok = 1
		:: !live ->
			seen = 1;	/* reach: a message lost with its connection */
			ok = 0
		fi;
		c = IX(n, p);
		if
		:: !ok -> skip
#ifndef BUG_NO_EPOCH
		/* about an older copy than this node holds: stale, ignored */
		:: ok && st[c] != I && cpe[c] >= t ->
			seen = 1;	/* reach: a stale message ignored */
			ok = 0
#endif
		:: else ->
			if
			:: kind == INV_SH || kind == INV_MOVED ->
				clear_copy(c);
				if
				:: kind == INV_MOVED -> hint0[n] = a
				:: else
				fi
			:: kind == INV_OWN ->
				/* the requester's copy is current: ours is retained until the home commits */
				if
				:: st[c] != I -> st[c] = X
				:: else -> ok = 0
				fi
			:: else ->
				/*
				 * FETCH: write the page into the buffer of the home that
				 * asks; the module refuses any other destination.
				 */
				if
#ifdef LAZY
				:: REFUSES(n, p) ->
					/* STALE: settles the doubt, not taken */
					seen = 1;	/* reach: a FETCH for the grant in doubt refused */
					ok = 0;
					stale = 1
#endif
				:: OWNS(n, p) && !REFUSES(n, p) ->
					assert(a == from);
					land = live && ackt[p] == t;
					if
					:: land -> sbok[p] = 1; sbcur[p] = cur[c]
					:: else
					fi;
					ok = land;
					if
					:: land && kind == F_KEEP -> st[c] = SO
					:: land && kind == F_GIVE ->
						seen = 1;	/* reach: a migration pulls from a third owner */
						st[c] = S
#ifdef BUG_DROP_SENT
					:: land && kind == F_DROP -> clear_copy(c)
#else
					:: land && kind == F_DROP ->
						seen = 1;	/* reach: an owner retains the page it sent */
						st[c] = X
#endif
#ifdef LAZY
					:: land && kind == F_DROP && nf < NFAULT ->
						/*
						 * It gave the page up before it answered; the
						 * answer dies with the connection (its send ends
						 * in -ECOMM), and it stays given up: the home
						 * may have the data.
						 */
						seen = 1;	/* reach: an owner's answer lost after it gave the page up */
						st[c] = X;
						sbok[p] = 0;
						sbcur[p] = 0;
						nf++;
						linkdown(L(n, from));
						live = 0;
						ok = 0
#endif
					:: else
					fi
				:: else -> ok = 0
				fi
			fi
		fi;
		/* the ack, on the connection the message came on */
		if
#ifdef LAZY
		:: live && ackt[p] == t -> ackst[p] = (ok -> 1 : (stale -> 3 : 2))
#else
		:: live && ackt[p] == t -> ackst[p] = (ok -> 1 : 2)
#endif
		:: live && ackt[p] != t ->
			/* a late ack: its waiter gave up without killing the connection */
#ifndef BUG_SILENT_WITHDRAW
			assert(0)
#else
			skip
#endif
		:: else
		fi;
		kind = 0; p = 0; t = 0; a = 0; from = 0; g = 0; rid = 0; c = 0;
#ifdef LAZY
		stale = 0;
#endif
		live = 0; ok = 0; land = 0 }
	od
}

/* ---- a page's server: the home's transactions --------------------------- */

/*
 * Call node x (INVAL or FETCH) for transaction t and wait for its ack, or
 * for the connection to die. On this node (x == H) it is done here.
 */
inline call(x, kind, dst)
{
	atomic {
		if
		:: x == H ->
			if
			:: kind == INV_OWN -> st[IX(H, p)] = X
			:: else -> clear_copy(IX(H, p))
			fi
		:: x != H && lup[L(H, x)] ->
			cg = lgen[L(H, x)];
			ackt[p] = t;
			ackst[p] = 0;
			ib[x]!kind, p, t, dst, H, cg, rid
		:: else -> ok = 0	/* not connected: the transaction fails */
		fi
	};
	if
	:: x != H && ok ->
		atomic {
			if
#ifdef LAZY
			:: ackst[p] != 0 -> ok = (ackst[p] == 1); stale = (ackst[p] == 3)
#else
			:: ackst[p] != 0 -> ok = (ackst[p] == 1)
#endif
#ifndef BUG_NO_TIMEOUT
			:: ackst[p] == 0 && !LIVE(H, x, cg) -> ok = 0
#endif
#ifdef BUG_SILENT_WITHDRAW
			:: ackst[p] == 0 && LIVE(H, x, cg) && nf < NFAULT -> nf++; ok = 0
#endif
			fi;
			ackt[p] = 0;
			ackst[p] = 0;
			cg = 0
		}
	:: else
	fi
}

/* Answer r without a grant (NOTHOME, an error, a word access). */
inline answer(status)
{
	if
	:: pend[r] && prid[r] == rid && LIVE(r, at, g) ->
		res[r] = status;
		rhome[r] = home[p]
	:: else ->
#ifndef BUG_SILENT_WITHDRAW
		assert(!LIVE(r, at, g))	/* a reply lands only on a waiting call */
#else
		skip
#endif
	fi
}

/*
 * Node q gets page p: from the data the owner o wrote into the home's
 * buffer (relayed with the reply if q is not the home), from this node's
 * (the home's) frame, or its own copy is current (no data).
 */
inline install(q, wrt, acc)
{
	if
	:: data && o == H -> cur[IX(q, p)] = cur[IX(H, p)]
	:: data && o != H -> assert(sbok[p]); cur[IX(q, p)] = sbcur[p]
	:: else ->
		seen = 1;	/* reach: a retained or read copy revived */
		assert(st[IX(q, p)] != I)	/* "your copy is current" */
	fi;
	st[IX(q, p)] = (wrt -> E : (o == q -> SO : S));
	cpe[IX(q, p)] = t;
	if
	:: acc && wrt -> gwrite(q, p)	/* the access that faulted */
	:: else
	fi;
	sbok[p] = 0;
	sbcur[p] = 0
}

/* The directory after a grant to q landed; the old owner's retained frame goes. */
inline commit(q, wrt)
{
	if
	:: wrt ->
		if
		:: o != q && o == H ->
#ifdef BUG_OWNER_READABLE
			skip	/* dropped later, once the send completes */
#else
			clear_copy(IX(H, p))
#endif
#ifdef NOEVICT
		:: o != q && o != H && lup[L(H, o)] && st[IX(o, p)] == X ->
			clear_copy(IX(o, p))	/* RELEASE: a message, in the kernel */
#endif
		:: else
		fi;
		owner[p] = q;
		cs[p] = BIT(q)
	:: else ->
		cs[p] = cs[p] | BIT(q) | BIT(o)
	fi
}

/* Node c is to be reconciled (it dropped its copies of this home's pages). */
#define REC(c)	(alive[home[p]] && (needrec[p] & BIT(c)))

/*
 * A reader of p that can take the ownership over from an evicted owner.
 * With evictions the copyset is only a superset (E1: a clean drop is told
 * after the fact), so the home asks the reader, which takes the page only
 * if it still holds its copy (an answer to "you own it now", in the
 * kernel); one that dropped it declines, and the next is asked.
 */
#if !defined(NOEVICT) && !defined(BUG_HEIR_UNASKED)
#define HASCOPY(x)	(st[IX(x, p)] == S)
#else
#define HASCOPY(x)	1
#endif
#define HEIR(x)	((x) != c && (cs[p] & BIT(x)) && alive[x] && !evicted[x] && !(needrec[p] & BIT(x)) && HASCOPY(x))

/*
 * Reconcile node c: out of the copyset; an owner stays (fenced) unless it
 * was evicted: then a reader, if any, becomes the owner (the home first),
 * else the page is lost.
 */
inline reconcile(c)
{
	needrec[p] = needrec[p] & ~BIT(c);
	if
	:: doubt[p] != 0 && evicted[c] && (c == doubt[p] - 1 || c == dold[p] - 1) ->
		/* one of the two that may hold the page is gone: it is lost */
		seen = 1;	/* reach: a page in doubt lost with an evicted node */
		lost[p] = 1;
		doubt[p] = 0; dt[p] = 0; dold[p] = 0; dmig[p] = 0
	:: else
	fi;
	if
	:: owner[p] != c ->
#ifndef BUG_NO_RECONCILE
		cs[p] = cs[p] & ~BIT(c)
#else
		skip
#endif
	:: owner[p] == c && evicted[c] && !lost[p] ->
		cs[p] = cs[p] & ~BIT(c);
		if
		:: HEIR(home[p]) ->
			seen = 1;	/* reach: an evicted owner's page handed to a reader */
			owner[p] = home[p]
		:: else ->
			if
			:: HEIR(0) -> owner[p] = 0
			:: HEIR(1) -> owner[p] = 1
			:: HEIR(2) -> owner[p] = 2
			:: else ->
				seen = 1;	/* reach: a page lost with its evicted owner */
				lost[p] = 1
			fi
		fi;
		if
		:: owner[p] != c -> st[IX(owner[p], p)] = SO	/* "you own it now": a message, in the kernel */
		:: else
		fi
	:: else
	fi
}

/* Page p's migration to node tt commits at its old home h. */
inline migcommit(h, tt)
{
	home[p] = tt;
	owner[p] = tt;
	cs[p] = BIT(tt);
	clear_copy(IX(h, p));
	hint0[h] = tt;
	needrec[p] = 0;
	/* the requests waiting at h for DIR get NOTHOME */
	kj = 0;
	do
	:: kj < N ->
		if
		:: rqk[IX(kj, p)] != 0 && rqat[IX(kj, p)] == h ->
			if
			:: pend[kj] && prid[kj] == rqrid[IX(kj, p)] && LIVE(kj, h, rqg[IX(kj, p)]) ->
				res[kj] = NH;
				rhome[kj] = tt
			:: else
			fi;
			rqk[IX(kj, p)] = 0; rqrid[IX(kj, p)] = 0; rqat[IX(kj, p)] = 0; rqg[IX(kj, p)] = 0
		:: else
		fi;
#ifndef NOEVICT
		/* and the evictions: h is not the home, it takes nothing and releases nothing (E5) */
		if
		:: evk[IX(kj, p)] != 0 && evat[IX(kj, p)] == h ->
			if
			:: pend[kj] && prid[kj] == evrid[IX(kj, p)] && LIVE(kj, h, evg[IX(kj, p)]) ->
				seen = 1;	/* reach: an eviction answered by a migration */
				res[kj] = OK
			:: else
			fi;
			evk[IX(kj, p)] = 0; evrid[IX(kj, p)] = 0; evat[IX(kj, p)] = 0; evg[IX(kj, p)] = 0
		:: else
		fi;
#endif
		kj++
	:: else -> break
	od
}

/*
 * The grant to r was in flight when its connection died: r may have it, so
 * nothing is rolled back; the page is fenced until that is known. The old
 * owner's frame stays retained; this node's copy may not be read meanwhile.
 */
inline indoubt()
{
	doubt[p] = r + 1;
	dt[p] = t;
	dold[p] = o + 1;
	dmig[p] = (k == MIG);
#ifdef LAZY
	/* the code's directory names the requester until it is settled */
	owner[p] = r;
	cs[p] = BIT(r);
#endif
	if
	:: k == MIG && o != H -> clear_copy(IX(H, p))
	:: o == H && st[IX(H, p)] != I -> st[IX(H, p)] = X
	:: else
	fi
}

#ifdef LAZY
/*
 * The grant in doubt on p was found taken or not, by a transaction: the
 * requester's frame answered a FETCH for a frame the grant installed (or
 * STALE), or the requester's own request claimed one (or not). Taken: this
 * node's frame from before the grant goes (a peer's goes with its
 * write-back's release, E3). Not taken: the owner before is the owner and
 * only holder again, this node's frame read-only again.
 */
inline settle(taken)
{
	if
	:: taken ->
		seen = 1;	/* reach: a grant in doubt found taken, lazily */
		if
		:: dold[p] - 1 == H -> clear_copy(IX(H, p))
		:: else
		fi
	:: else ->
		seen = 1;	/* reach: a grant in doubt found not taken, lazily */
		owner[p] = dold[p] - 1;
		cs[p] = BIT(dold[p] - 1);
		if
		:: dold[p] - 1 == H && st[IX(H, p)] == X -> st[IX(H, p)] = SO
		:: else
		fi
	fi;
	doubt[p] = 0; dt[p] = 0; dold[p] = 0; dmig[p] = 0
}

/*
 * After the call to the owner o of this transaction: if o is the requester
 * of the grant in doubt, its answer settled it (a frame served: taken;
 * STALE: not taken, and the transaction starts over with the owner before).
 * No answer: still in doubt, and the transaction fails.
 */
inline settled()
{
	if
	:: INDOUBT(o, p) && (ok || stale) ->
		settle(ok);
		if
		:: stale -> ok = 1; stale = 0; goto again
		:: else
		fi
	:: else
	fi
}
#define LAZYRESET	; stale = 0
#else
#define LAZYRESET
#endif

#define RESET	H = 0; r = 0; k = 0; rid = 0; at = 0; g = 0; q = 0; t = 0; o = 0; x = 0; \
		cg = 0; wr = 0; ok = 0; data = 0; land = 0; sbok[p] = 0; sbcur[p] = 0 LAZYRESET

/* Take node r's request for page p. */
inline take()
{
	H = home[p];
	k = rqk[IX(r, p)]; rid = rqrid[IX(r, p)]; at = rqat[IX(r, p)]; g = rqg[IX(r, p)];
	rqk[IX(r, p)] = 0; rqrid[IX(r, p)] = 0; rqat[IX(r, p)] = 0; rqg[IX(r, p)] = 0
}

#ifndef NOEVICT
/* Take node r's eviction of page p. */
inline evtake()
{
	H = home[p];
	k = evk[IX(r, p)]; rid = evrid[IX(r, p)]; at = evat[IX(r, p)]; g = evg[IX(r, p)];
	evk[IX(r, p)] = 0; evrid[IX(r, p)] = 0; evat[IX(r, p)] = 0; evg[IX(r, p)] = 0
}

/* Is node x named in the grant in doubt on p: as its requester, as the owner before it? */
#define DREQ(x)	(doubt[p] != 0 && doubt[p] - 1 == (x))
#define DOLD(x)	(doubt[p] != 0 && dold[p] - 1 == (x))
/* E1: a notice of node x's clean drop takes x out of the copyset if x is no owner and no doubt names it. */
#define CLEANOK(x)	(owner[p] != (x) && !DREQ(x) && !DOLD(x))
/*
 * E3: release node x's frame unless the directory names x the owner (in
 * the kernel the requester of a grant in doubt is the owner: the model
 * keeps the owner before in owner[] until the doubt ends) or the owner
 * before a grant in doubt.
 */
#ifndef BUG_RELEASE_IN_DOUBT
#define RELEASEOK(x)	(!DREQ(x) && !(doubt[p] == 0 && owner[p] == (x)) && !DOLD(x))
#else
#define RELEASEOK(x)	(!DREQ(x) && !(doubt[p] == 0 && owner[p] == (x)))
#endif
#endif

proctype server(byte p)
{
	byte H, r, k, rid, at, g, q, t, o, x, cg;
	bit wr, ok, data, land;
#ifdef LAZY
	bit stale;
#endif
#ifdef BUG_OWNER_READABLE
	byte dl;	/* drop this node's copy, later */
#endif

end_idle:
	do
	:: atomic { REC(0) -> reconcile(0) }
	:: atomic { REC(1) -> reconcile(1) }
	:: atomic { REC(2) -> reconcile(2) }
	/*
	 * The next request: DIR is free. A transaction is one atomic sequence
	 * that gives way only while it waits for an ack.
	 */
	:: atomic { alive[home[p]] && (rqk[IX(0, p)] != 0 || rqk[IX(1, p)] != 0 || rqk[IX(2, p)] != 0) ->
	if
	:: rqk[IX(0, p)] != 0 -> r = 0
	:: rqk[IX(1, p)] != 0 -> r = 1
	:: rqk[IX(2, p)] != 0 -> r = 2
	fi;
	{
		take();
		if
		:: !LIVE(r, at, g) -> goto done	/* its connection died: nobody waits */
		:: LIVE(r, at, g) && at != H -> answer(NH); goto done
#ifndef LAZY
		:: LIVE(r, at, g) && at == H && (lost[p] || doubt[p] != 0) ->
			answer(ERR); goto done	/* lost, or fenced while a grant is in doubt */
#else
		:: LIVE(r, at, g) && at == H && lost[p] ->
			answer(ERR); goto done	/* lost */
#endif
		:: else
		fi;
		/* a word access is done here, on a copy this node gets for itself */
		if
		:: k == WLD || k == WST -> q = H; wr = (k == WST)
		:: else -> q = r; wr = (k == WR)
		fi;
		if
		:: (k == WLD && READABLE(H, p)) || (k == WST && st[IX(H, p)] == E) ->
			goto word
		:: else
		fi;
		dep[p]++;
		t = dep[p];
#ifdef LAZY
		/* the requester of the grant in doubt asks again: its claim settles it */
		if
		:: INDOUBT(r, p) && (k == RD || k == WR) ->
			seen = 1;	/* reach: a requester's claim settles its grant in doubt */
			settle(GRANTED(r, p))
		:: else
		fi;
again:
#endif
		o = owner[p];
		ok = 1;
		data = 0;
	if
	:: k == MIG ->
		/* a third node owns it: pull it here (it keeps a read-only copy, not the ownership) */
		if
		:: o != H && o != r ->
			call(o, F_GIVE, H);
			atomic {
				if
				:: ok ->
					st[IX(H, p)] = SO; cur[IX(H, p)] = sbcur[p]; cpe[IX(H, p)] = t;
					sbok[p] = 0; sbcur[p] = 0;
					owner[p] = H;
					cs[p] = cs[p] | BIT(H);
					o = H
				:: else
				fi
			}
		:: else
		fi;
		/* every other copy goes; its holder learns the new home */
		x = 0;
		do
		:: x < N && ok ->
			if
			:: x != H && x != r && (cs[p] & BIT(x)) ->
				call(x, INV_MOVED, r);
				if
				:: ok -> cs[p] = cs[p] & ~BIT(x)
				:: else
				fi
			:: else
			fi;
			x++
		:: else -> break
		od;
		data = (o == H)
	:: k != MIG && wr ->
		/*
		 * The owner first: if it cannot be reached, the write fails
		 * before any reader lost its copy (a reader's copy may be
		 * the last one, if the owner is dead).
		 */
		if
		:: o != q && (cs[p] & BIT(q)) ->
			call(o, INV_OWN, 0)		/* q's copy is current */
		:: o != q && !(cs[p] & BIT(q)) ->
			if
			:: o != H -> call(o, F_DROP, H)	/* relayed if q != H */
#ifdef LAZY
				; settled()
#endif
			:: else
			fi;
			data = 1
		:: else
		fi;
		/* then every copy outside {q, owner} */
		x = 0;
		do
		:: x < N && ok ->
			if
			:: x != q && x != o && (cs[p] & BIT(x)) ->
				call(x, INV_SH, 0);
				if
				:: ok -> cs[p] = cs[p] & ~BIT(x)
				:: else
				fi
			:: else
			fi;
			x++
		:: else -> break
		od
	:: k != MIG && !wr ->
		if
		:: !(cs[p] & BIT(q)) && o != q ->
			if
			:: o != H -> call(o, F_KEEP, H)	/* relayed if q != H */
#ifdef LAZY
				; settled()
#endif
			:: else
			fi;
			data = 1
		:: else
		fi
	fi;

	/* the grant */
		if
		:: !ok ->
			seen = 1;	/* reach: a transaction failed */
			/* failed: what was done stays done (every step left the entry true) */
			if
			:: o == H && st[IX(H, p)] == X -> st[IX(H, p)] = SO
			:: else
			fi;
			answer(ERR);
			goto done
		:: ok && q == H ->
			/* this node gets it for itself: no message, it lands */
			install(H, wr, 1);
			commit(H, wr);
			if
			:: k == WLD || k == WST -> goto word
			:: else -> res[r] = OK; goto done
			fi
		:: ok && q != H && k == MIG ->
			/* the reply, after the data: the new home installs the page as its owner */
			land = LIVE(r, at, g);
			if
			:: land && pend[r] && prid[r] == rid ->
				install(r, 1, 0);
				hint0[r] = r;
				migr = 0;	/* it is the home now */
				seen = 1;	/* reach: a migration committed */
				res[r] = OK;
				migcommit(H, r)
			:: land && nf < NFAULT ->
				seen = 1;	/* reach: a migration in doubt */
				/* the connection dies as the reply goes out */
				if
				:: pend[r] && prid[r] == rid ->
					install(r, 1, 0);	/* taken; its ack is lost */
					hint0[r] = r;
					migr = 0;
					res[r] = OK
				:: skip			/* lost */
				fi;
				nf++;
				linkdown(L(H, r));
#ifdef BUG_ROLLBACK_AFTER_SIDE_EFFECTS
				skip	/* the send failed: roll back, as if it never went out */
#else
				indoubt()
#endif
			:: land && !(pend[r] && prid[r] == rid) ->
				/* taken by the HCA, dropped as late: the home cannot tell */
#ifndef BUG_SILENT_WITHDRAW
				assert(0);
#endif
				migcommit(H, r)
			:: !land	/* never went out: nothing happened */
			fi;
			goto done
		:: ok && q != H && k != MIG ->
			/* a read served from this node's frame: it stays, read-only */
			if
			:: !wr && data && o == H -> st[IX(H, p)] = SO
			:: else
			fi;
			/* the reply, on the request's connection, after the data */
			land = LIVE(r, at, g);
			if
			:: land && pend[r] && prid[r] == rid ->
				install(r, wr, 1);
				res[r] = OK;
				commit(r, wr)
			:: land && wr && nf < NFAULT ->
				seen = 1;	/* reach: a grant in doubt */
				/* the connection dies as the reply goes out */
				if
				:: pend[r] && prid[r] == rid ->
					install(r, wr, 1);	/* taken; its ack is lost */
					res[r] = OK
				:: skip			/* lost */
				fi;
				nf++;
				linkdown(L(H, r));
#ifdef BUG_ROLLBACK_AFTER_SIDE_EFFECTS
				/* the send failed: roll back, as if it never went out */
				if
				:: o == H && st[IX(H, p)] == X -> st[IX(H, p)] = SO
				:: else
				fi
#else
				indoubt()
#endif
			:: land && !(pend[r] && prid[r] == rid) ->
				/* taken by the HCA, dropped as late: the home cannot tell */
#ifndef BUG_SILENT_WITHDRAW
				assert(0);
#endif
				commit(r, wr)
			:: !land ->
				seen = 1;	/* reach: a grant that never went out */
				/*
				 * The connection was dead: the reply never went out and
				 * nothing happened. Back to the owner, which holds the
				 * page (retained, if it sent it).
				 */
				if
				:: o == H && st[IX(H, p)] == X -> st[IX(H, p)] = SO
				:: else
				fi
			fi;
#ifdef BUG_OWNER_READABLE
			if
			:: land && wr && o == H && o != q -> dl = H + 1
			:: else
			fi;
#endif
			goto done
		fi;

word:
		/* the word access itself, on this node's copy */
		if
		:: k == WST -> assert(st[IX(H, p)] == E); gwrite(H, p)
		:: else -> assert(READABLE(H, p))
		fi;
		answer(OK);

done:
		RESET
	} unless {
		/* this node crashed: its transactions die with it */
		atomic { !alive[home[p]] -> RESET }
	}
	}
#ifndef NOEVICT
	/* the next eviction: DIR is free */
	:: atomic { alive[home[p]] && (evk[IX(0, p)] != 0 || evk[IX(1, p)] != 0 || evk[IX(2, p)] != 0) ->
	if
	:: evk[IX(0, p)] != 0 -> r = 0
	:: evk[IX(1, p)] != 0 -> r = 1
	:: evk[IX(2, p)] != 0 -> r = 2
	fi;
	{
		evtake();
		assert(at == H);	/* a migration answers those at the old home */
		if
#ifndef BUG_NOTICE_DEAD_CONN
		:: !LIVE(r, at, g) ->
			/* its connection died: nobody waits, and a notice is ignored (E1) */
			seen = 1;	/* reach: an eviction ignored, its connection dead */
			skip
#else
		/* a notice that came on a dead connection is applied all the same */
		:: !LIVE(r, at, g) && k == EVC && CLEANOK(r) -> cs[p] = cs[p] & ~BIT(r)
		:: !LIVE(r, at, g) && !(k == EVC && CLEANOK(r))
#endif
		:: LIVE(r, at, g) && k == EVC ->
			/* E1: applied under DIR, on a live connection, if r is no owner */
			if
			:: CLEANOK(r) ->
				seen = 1;	/* reach: a clean-drop notice applied */
				cs[p] = cs[p] & ~BIT(r)
			:: else
			fi;
			answer(OK)
		:: LIVE(r, at, g) && k == EWB ->
			if
			:: owner[p] == r && doubt[p] == 0 && !lost[p] ->
				/* E2: a transaction, as a FETCH DROP (FETCHV), committed by the install */
				dep[p]++;
				t = dep[p];
				o = r;
				ok = 1;
				call(r, F_DROP, H);
				atomic {
					if
					:: ok ->
						seen = 1;	/* reach: a write-back installed at the home */
						assert(sbok[p]);
						st[IX(H, p)] = SO; cur[IX(H, p)] = sbcur[p]; cpe[IX(H, p)] = t;
						sbok[p] = 0; sbcur[p] = 0;
						owner[p] = H;
#ifndef BUG_WB_DROP_READERS
						cs[p] = (cs[p] & ~BIT(r)) | BIT(H)	/* E4: the readers keep their copies */
#else
						cs[p] = BIT(H)
#endif
					:: else ->
						seen = 1;	/* reach: a write-back that failed */
						skip
					fi
				}
			:: else ->
				seen = 1;	/* reach: a write-back of a page r does not own (or fenced) */
				skip
			fi;
			/*
			 * The reply: release (E3) only if the directory names r
			 * neither owner nor the owner before a grant in doubt.
			 */
			wr = RELEASEOK(r);
			if
			:: pend[r] && prid[r] == rid && LIVE(r, at, g) ->
				if
				:: wr && st[IX(r, p)] != I ->
					seen = 1;	/* reach: a frame released */
					clear_copy(IX(r, p))
				:: else
				fi;
				res[r] = OK
			:: else ->
				assert(!LIVE(r, at, g))	/* a reply lands only on a waiting call */
			fi
		fi;
		RESET
	} unless {
		atomic { !alive[home[p]] -> RESET }
	}
	}
#endif
#ifdef BUG_OWNER_READABLE
	/* the old owner's copy, still mapped read-only until its send completes */
	:: atomic { dl != 0 -> clear_copy(IX(dl - 1, p)); dl = 0 }
#endif
	od
}


/* ---- the environment: faults and reconnections -------------------------- */

/* Connection l may come back once both ends handled its death. */
#define BACK(l) (!lup[l] && alive[LA(l)] && alive[LB(l)] && \
	!evicted[LA(l)] && !evicted[LB(l)] && \
	!(home[0] == LA(l) && (needrec[0] & BIT(LB(l)))) && \
	!(home[0] == LB(l) && (needrec[0] & BIT(LA(l)))) && \
	!(home[1] == LA(l) && (needrec[1] & BIT(LB(l)))) && \
	!(home[1] == LB(l) && (needrec[1] & BIT(LA(l)))))

/*
 * The connection between the home of a page in doubt and the requester of
 * its grant is back: the requester's copy says whether it took the grant
 * (its epoch is the transaction's). Commit, or roll back to the old owner.
 */
inline resolve(l)
{
#ifndef LAZY
	p = 0;
	do
	:: p < P ->
		if
		:: doubt[p] != 0 &&
		   ((home[p] == LA(l) && doubt[p] - 1 == LB(l)) ||
		    (home[p] == LB(l) && doubt[p] - 1 == LA(l))) ->
			kq = doubt[p] - 1;
			ko = dold[p] - 1;
			kh = home[p];
			if
			:: st[IX(kq, p)] != I && cpe[IX(kq, p)] == dt[p] ->
				seen = 1;	/* reach: a grant in doubt found taken */
				if
				:: dmig[p] -> migcommit(kh, kq)
				:: else ->
					if
					:: ko != kq && ko == kh -> clear_copy(IX(kh, p))
					:: ko != kq && ko != kh ->
#ifdef NOEVICT
						if
						:: lup[L(kh, ko)] && st[IX(ko, p)] == X ->
							clear_copy(IX(ko, p))	/* RELEASE */
						:: else
						fi
#else
						skip	/* released by its write-back's reply (E3) */
#endif
					:: else
					fi;
					owner[p] = kq;
					cs[p] = BIT(kq)
				fi
			:: else ->
				seen = 1;	/* reach: a grant in doubt found not taken */
				if
				:: ko == kh && st[IX(kh, p)] == X -> st[IX(kh, p)] = SO
				:: else
				fi
			fi;
			doubt[p] = 0; dt[p] = 0; dold[p] = 0; dmig[p] = 0
		:: else
		fi;
		p++
	:: else -> break
	od;
	p = 0
#else
	skip	/* settled by the next transaction on the page (settle()) */
#endif
}

proctype env()
{
	byte p;

end_idle:
	do
	:: atomic { nf < NFAULT && lup[0] -> nf++; linkdown(0) }
	:: atomic { nf < NFAULT && lup[1] -> nf++; linkdown(1) }
	:: atomic { nf < NFAULT && lup[2] -> nf++; linkdown(2) }
#ifndef NOCRASH
	:: atomic { nf < NFAULT && alive[0] -> nf++; crash(0) }
	:: atomic { nf < NFAULT && alive[1] -> nf++; crash(1) }
	:: atomic { nf < NFAULT && alive[2] -> nf++; crash(2) }
	:: atomic { nf < NFAULT && !evicted[0] -> nf++; evict(0) }
	:: atomic { nf < NFAULT && !evicted[1] -> nf++; evict(1) }
	:: atomic { nf < NFAULT && !evicted[2] -> nf++; evict(2) }
#endif
	:: atomic { BACK(0) -> lup[0] = 1; lgen[0]++; resolve(0) }
	:: atomic { BACK(1) -> lup[1] = 1; lgen[1]++; resolve(1) }
	:: atomic { BACK(2) -> lup[2] = 1; lgen[2]++; resolve(2) }
	od
}

/* ---- properties ---------------------------------------------------------- */

/* At most one writable copy, and none readable elsewhere while it exists. */
#define NW(p)	((alive[0] && st[IX(0, p)] == E) + (alive[1] && st[IX(1, p)] == E) + \
		 (alive[2] && st[IX(2, p)] == E))
#define NRO(p)	((alive[0] && (st[IX(0, p)] == S || st[IX(0, p)] == SO)) + \
		 (alive[1] && (st[IX(1, p)] == S || st[IX(1, p)] == SO)) + \
		 (alive[2] && (st[IX(2, p)] == S || st[IX(2, p)] == SO)))
#define SWMR(p)	(NW(p) <= 1 && (NW(p) == 0 || NRO(p) == 0))

/* Every copy a node can read holds the last write: every read returns it. */
#define FRESH(n, p)	(!alive[n] || !READABLE(n, p) || cur[IX(n, p)])
#define READS(p)	(FRESH(0, p) && FRESH(1, p) && FRESH(2, p))

/*
 * The last write survives somewhere (a copy, retained or not, or a buffer it
 * is on its way through), unless a crash took its only holder, or the page's
 * home (and with it the directory: the page is lost to the cluster).
 */
#define KEPT(p)	(wiped[p] || !alive[home[p]] || HOLDS(0, p) || HOLDS(1, p) || HOLDS(2, p) || \
		 (sbok[p] && sbcur[p] && alive[home[p]]))

#define INV	(SWMR(0) && SWMR(1) && READS(0) && READS(1) && KEPT(0) && KEPT(1))

#ifdef LIVENESS
ltl every_request_ends {
	[] ((pend[0] -> <> !pend[0]) && (pend[1] -> <> !pend[1]) && (pend[2] -> <> !pend[2]))
}
#else
proctype monitor()
{
end_ok:
	atomic { !INV ->
		assert(SWMR(0) && SWMR(1));	/* at most one writable copy */
		assert(READS(0) && READS(1));	/* every read returns the last write */
		assert(KEPT(0) && KEPT(1))	/* no write lost */
	}
}
#endif

init
{
	atomic {
		alive[0] = 1; alive[1] = 1; alive[2] = 1;
		lup[0] = 1; lup[1] = 1; lup[2] = 1;
		home[0] = 0; home[1] = 1;
		owner[0] = 0; owner[1] = 1;
		cs[0] = BIT(0); cs[1] = BIT(1);
		st[IX(0, 0)] = SO; cur[IX(0, 0)] = 1;
		st[IX(1, 1)] = SO; cur[IX(1, 1)] = 1;
		run app(0); run app(1); run app(2);
		run worker(0); run worker(1); run worker(2);
		run server(0); run server(1);
		run env();
#ifndef LIVENESS
		run monitor()
#endif
	}
}
