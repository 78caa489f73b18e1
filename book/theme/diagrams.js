// The book's diagrams (```mermaid blocks, drawn by mermaid.js).
//
// Mermaid (2.6 MB) is loaded only by a page that draws a diagram: at once if a diagram is
// in view of the page (not in a closed <details>), otherwise when book/theme/sequence.js asks
// for one, as a case's sequence diagram is opened. `cargo xtask book` copies the script to
// book/theme-js/mermaid.min.js in the built book.
//
// A diagram is drawn at its natural size, so its text stays readable: one wider than the
// column scrolls sideways inside its own box, with two buttons above it, "Fit to width"
// (shrink it into the column, and back) and "Full screen" (the diagram alone, over the page,
// at natural size; Escape or the button closes it).

window.bookDiagrams = (() => {
    const DARK = ['ayu', 'navy', 'coal'];
    const LIGHT = ['light', 'rust'];
    let loading = null;
    // The theme the diagrams are drawn in.
    let drawnDark = null;

    function isDark() {
        const classes = document.documentElement.classList;
        return DARK.some((t) => classes.contains(t));
    }

    // Loads mermaid once; resolves to it.
    function load() {
        if (loading === null) {
            loading = new Promise((resolve, reject) => {
                const script = document.createElement('script');
                script.src = path_to_root + 'book/theme-js/mermaid.min.js';
                script.onload = () => {
                    drawnDark = isDark();
                    mermaid.initialize({ startOnLoad: false, theme: drawnDark ? 'dark' : 'default' });
                    resolve(mermaid);
                };
                script.onerror = () => reject(new Error('cannot load ' + script.src));
                document.head.appendChild(script);
            });
        }
        return loading;
    }

    function button(label, title, action) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.title = title;
        b.addEventListener('click', action);
        return b;
    }

    function fullScreen(svg) {
        const overlay = document.createElement('div');
        overlay.className = 'diagram-overlay';
        overlay.setAttribute('role', 'dialog');
        overlay.setAttribute('aria-modal', 'true');
        overlay.setAttribute('aria-label', 'Diagram, full size');
        const body = document.createElement('div');
        body.className = 'diagram-overlay-body';
        body.appendChild(svg.cloneNode(true));
        const close = () => {
            overlay.remove();
            document.removeEventListener('keydown', onKey);
        };
        const onKey = (e) => {
            if (e.key === 'Escape') {
                close();
            }
        };
        const bar = document.createElement('div');
        bar.className = 'diagram-tools';
        bar.appendChild(button('Close', 'Close the full-size diagram (Esc)', close));
        overlay.append(bar, body);
        document.body.appendChild(overlay);
        document.addEventListener('keydown', onKey);
        bar.querySelector('button').focus();
    }

    // Natural size for a drawn diagram; the tools if it is wider than its box.
    function frame(pre) {
        const svg = pre.querySelector('svg');
        if (!svg || pre.dataset.framed) {
            return;
        }
        pre.dataset.framed = 'yes';
        const box = svg.viewBox && svg.viewBox.baseVal;
        const natural = box && box.width ? box.width : svg.getBoundingClientRect().width;
        svg.style.maxWidth = 'none';
        svg.style.width = natural + 'px';
        svg.style.height = 'auto';
        pre.classList.add('diagram-natural');
        if (natural <= pre.clientWidth + 1) {
            return;
        }
        // Shrunk to no less than 3/4 (13 px text stays 10 px), a diagram is shown whole;
        // beyond that it keeps its natural size and scrolls.
        const fitsWhenShrunk = natural * 0.75 <= pre.clientWidth;
        if (fitsWhenShrunk) {
            pre.classList.add('diagram-fit');
        }
        const bar = document.createElement('div');
        bar.className = 'diagram-tools';
        const fit = button(fitsWhenShrunk ? 'Natural size' : 'Fit to width', 'Shrink the diagram into the column, or back to its natural size', () => {
            const fitted = pre.classList.toggle('diagram-fit');
            fit.textContent = fitted ? 'Natural size' : 'Fit to width';
        });
        bar.append(
            fit,
            button('Full screen', 'Show the diagram alone, at natural size', () => fullScreen(svg)),
            Object.assign(document.createElement('span'), {
                className: 'diagram-hint',
                textContent: fitsWhenShrunk ? '' : 'wider than the page: scroll sideways',
            }),
        );
        pre.before(bar);
    }

    // Draws `nodes` (pre.mermaid elements), loading mermaid first if need be.
    async function run(nodes) {
        if (nodes.length === 0) {
            return;
        }
        const m = await load();
        await m.run({ nodes });
        nodes.forEach(frame);
    }

    document.addEventListener('DOMContentLoaded', () => {
        const shown = Array.from(document.querySelectorAll('pre.mermaid')).filter(
            (pre) => !pre.closest('details:not([open])'),
        );
        run(shown);
        // Mermaid draws in the theme of the moment: a switch between light and dark draws again.
        for (const theme of DARK.concat(LIGHT)) {
            const choice = document.getElementById('mdbook-theme-' + theme);
            if (choice) {
                choice.addEventListener('click', () => {
                    if (drawnDark !== null && DARK.includes(theme) !== drawnDark) {
                        window.location.reload();
                    }
                });
            }
        }
    });

    return { run };
})();
