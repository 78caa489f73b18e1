// The browser check of the built book (xtask/src/browser.rs), run in headless Chromium.
// Every page, then search, then the rule index's jump-to-rule box.
//
// xtask copies the built book to a scratch folder, puts ERROR_CATCHER (below, in browser.rs)
// at the top of every page's <head>, and opens a harness page holding this script with
// `PAGES` (the pages to load) and `RULES` ([id, page] of every rule) set before it. The
// script loads each page in a 420 px wide frame and checks it; when done, it writes a JSON
// list of problems into <pre id="browser-check-result">, which `--dump-dom` prints.

(async () => {
    const WIDTH = 420;
    const THEMES = ['light', 'rust', 'coal', 'navy', 'ayu'];
    const problems = [];
    const stats = { pages: 0, diagrams: 0, badges: 0, searches: 0 };
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

    function load(url) {
        return new Promise((resolve) => {
            const frame = document.createElement('iframe');
            frame.style.width = WIDTH + 'px';
            frame.style.height = '900px';
            frame.addEventListener('load', () => resolve(frame), { once: true });
            frame.src = url;
            document.body.appendChild(frame);
        });
    }

    async function until(test, ms) {
        for (let waited = 0; waited < ms; waited += 50) {
            if (test()) {
                return true;
            }
            await sleep(50);
        }
        return test();
    }

    // Every diagram of `root` that mermaid should have drawn: an SVG, without mermaid's
    // "Syntax error" picture.
    async function checkDiagrams(page, doc, selector) {
        const pres = Array.from(doc.querySelectorAll(selector));
        const drawn = (pre) => pre.querySelector('svg') !== null || /Syntax error/.test(pre.textContent);
        await until(() => pres.every(drawn), 15000);
        for (const pre of pres) {
            stats.diagrams++;
            const where = pre.closest('[id]') ? '#' + pre.closest('[id]').id : '';
            if (!pre.querySelector('svg')) {
                problems.push(`${page}${where}: a diagram was not drawn`);
            } else if (/Syntax error/i.test(pre.textContent)) {
                problems.push(`${page}${where}: a diagram has a syntax error`);
            }
        }
        const bombs = doc.querySelectorAll('svg[aria-roledescription="error"]');
        if (bombs.length > 0) {
            problems.push(`${page}: mermaid drew ${bombs.length} error picture(s)`);
        }
    }

    // The nearest ancestor (or the element) that scrolls sideways, if any.
    function scroller(el, win) {
        for (let e = el; e && e.tagName !== 'MAIN'; e = e.parentElement) {
            const x = win.getComputedStyle(e).overflowX;
            if (x === 'auto' || x === 'scroll' || x === 'hidden') {
                return e;
            }
        }
        return null;
    }

    function checkOverflow(page, win, doc) {
        const main = doc.querySelector('main');
        if (!main) {
            return;
        }
        const right = main.getBoundingClientRect().right + 1;
        if (doc.documentElement.scrollWidth > win.innerWidth + 1) {
            problems.push(`${page}: at ${WIDTH} px the page scrolls sideways (${doc.documentElement.scrollWidth} px wide)`);
        }
        const boxes = main.querySelectorAll('table, pre, .mermaid-frame, form, .rule, details');
        for (const el of boxes) {
            if (el.closest('details:not([open])') && el.tagName !== 'DETAILS') {
                continue;
            }
            const box = scroller(el, win) || el;
            const r = box.getBoundingClientRect();
            if (r.width > 0 && r.right > right) {
                const id = el.id || (el.closest('[id]') || {}).id || '';
                problems.push(`${page}: at ${WIDTH} px a ${el.tagName.toLowerCase()}${id ? ' near #' + id : ''} sticks out of the column by ${Math.round(r.right - right)} px`);
            }
        }
    }

    function rgba(text) {
        const m = text.match(/rgba?\(([^)]+)\)/);
        if (!m) {
            return null;
        }
        const v = m[1].split(/[ ,/]+/).filter((x) => x !== '').map(Number);
        return { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 };
    }

    function luminance(c) {
        const ch = [c.r, c.g, c.b].map((x) => {
            x /= 255;
            return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
        });
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
    }

    // The colour behind `el`: the first opaque background among it and its ancestors.
    function background(el, win) {
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(win.getComputedStyle(e).backgroundColor);
            if (c && c.a > 0.5) {
                return c;
            }
        }
        return { r: 255, g: 255, b: 255, a: 1 };
    }

    function checkContrast(page, win, doc) {
        const badges = Array.from(doc.querySelectorAll('.rule-strength, .rule-since'));
        if (badges.length === 0) {
            return;
        }
        const html = doc.documentElement;
        const original = html.className;
        const seen = new Set();
        for (const theme of THEMES) {
            html.classList.remove(...THEMES);
            html.classList.add(theme);
            for (const badge of badges) {
                const fg = rgba(win.getComputedStyle(badge).color);
                const bg = background(badge, win);
                const [l1, l2] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
                const ratio = (l1 + 0.05) / (l2 + 0.05);
                stats.badges++;
                const key = theme + ' ' + badge.className + ' ' + badge.textContent;
                if (ratio < 4.5 && !seen.has(key)) {
                    seen.add(key);
                    problems.push(`${page}: in the ${theme} theme the badge "${badge.textContent}" has contrast ${ratio.toFixed(2)}:1, below 4.5:1`);
                }
            }
        }
        html.className = original;
    }

    async function checkPage(page) {
        const frame = await load(page);
        const win = frame.contentWindow;
        const doc = frame.contentDocument;
        stats.pages++;
        await checkDiagrams(page, doc, 'pre.mermaid:not(details pre)');
        // The case diagrams are drawn when their <details> is opened (book/theme/sequence.js).
        for (const details of doc.querySelectorAll('details.sequence')) {
            details.open = true;
        }
        await until(() => !doc.querySelector('details pre.mermaid-deferred'), 15000);
        await checkDiagrams(page, doc, 'details pre.mermaid, details pre.mermaid-deferred');
        for (const details of doc.querySelectorAll('details.sequence')) {
            details.open = false;
        }
        checkOverflow(page, win, doc);
        checkContrast(page, win, doc);
        for (const error of win.__bookErrors || ['the error catcher did not run']) {
            problems.push(`${page}: script error: ${error}`);
        }
        frame.remove();
    }

    // Every rule ID, typed into mdBook's search box, must give its rule as the first hit.
    async function checkSearch() {
        if (RULES.length === 0) {
            problems.push('search: no rule to look for');
            return;
        }
        const [firstId] = RULES[0];
        const frame = await load('index.html?search=' + encodeURIComponent(firstId));
        const win = frame.contentWindow;
        const doc = frame.contentDocument;
        const results = doc.getElementById('mdbook-searchresults');
        const bar = doc.getElementById('mdbook-searchbar');
        if (!results || !bar) {
            problems.push('search: the page has no search box (is mdBook built with its search feature?)');
            return;
        }
        if (!(await until(() => results.querySelector('a'), 10000))) {
            problems.push(`search: "${firstId}" found nothing (${win.__bookErrors.join('; ')})`);
            return;
        }
        for (const [id, href] of RULES) {
            bar.value = id;
            bar.dispatchEvent(new win.KeyboardEvent('keyup', { key: 'Enter' }));
            await until(() => (doc.getElementById('mdbook-searchresults-header').innerText || '').includes(id), 2000);
            const first = results.querySelector('li a');
            const got = first ? first.getAttribute('href').replace(/\?[^#]*/, '') : 'nothing';
            stats.searches++;
            if (!got.endsWith(href)) {
                problems.push(`search: "${id}" gives ${got} first, not ${href}`);
            }
        }
        for (const error of win.__bookErrors) {
            problems.push(`search: script error: ${error}`);
        }
        frame.remove();
    }

    // The rule index's jump-to-rule box opens the rule typed into it (book/theme/rules.js).
    async function checkJump() {
        const [id, href] = RULES[RULES.length - 1];
        const frame = await load('rule-index.html');
        const form = frame.contentDocument.querySelector('form.rule-jump');
        if (!form) {
            problems.push('rule-index.html: no jump-to-rule box');
            frame.remove();
            return;
        }
        form.querySelector('input').value = 'r[' + id + ']';
        const moved = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
        form.requestSubmit();
        await Promise.race([moved, sleep(5000)]);
        const got = decodeURIComponent(frame.contentWindow.location.href);
        if (!got.endsWith('/' + href)) {
            problems.push(`rule-index.html: the jump box given r[${id}] went to ${got}, not ${href}`);
        }
        frame.remove();
    }

    try {
        for (const page of PAGES) {
            await checkPage(page);
        }
        await checkSearch();
        await checkJump();
    } catch (e) {
        problems.push('the check itself failed: ' + e + (e.stack ? '\n' + e.stack : ''));
    }
    const out = document.createElement('pre');
    out.id = 'browser-check-result';
    out.textContent = JSON.stringify({ problems, stats });
    document.body.appendChild(out);
})();
