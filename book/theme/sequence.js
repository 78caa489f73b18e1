// Sequence diagrams of the cases (book-preprocessor's `sequence` module): each is a mermaid
// diagram inside a collapsed <details class="sequence">.
//
// A diagram drawn while its <details> is closed is measured without being laid out, which
// some browsers get wrong (text of width 0), and drawing every diagram of a page on load is
// slow. So the diagrams of closed <details> are set aside (class `mermaid-deferred`; mermaid
// itself is loaded by book/theme/diagrams.js only when a page draws a diagram), and each is
// drawn when its <details> is first opened. A <details> that the address's #fragment points
// to is opened at once.

(() => {
    const DEFERRED = 'mermaid-deferred';

    function draw(details) {
        const pending = Array.from(details.querySelectorAll('pre.' + DEFERRED));
        for (const pre of pending) {
            pre.classList.replace(DEFERRED, 'mermaid');
        }
        // book/theme/diagrams.js loads mermaid if the page has not yet.
        window.bookDiagrams.run(pending);
    }

    function openTarget() {
        const id = decodeURIComponent(window.location.hash.slice(1));
        const target = id && document.getElementById(id);
        if (target && target.matches('details.sequence') && !target.open) {
            target.open = true; // The `toggle` listener draws it.
        }
    }

    document.addEventListener('DOMContentLoaded', () => {
        for (const details of document.querySelectorAll('details.sequence')) {
            if (!details.open) {
                for (const pre of details.querySelectorAll('pre.mermaid')) {
                    pre.classList.replace('mermaid', DEFERRED);
                }
            }
            details.addEventListener('toggle', () => {
                if (details.open) {
                    draw(details);
                }
            });
        }
        openTarget();
    });
    window.addEventListener('hashchange', openTarget);
})();
