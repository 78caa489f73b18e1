// The jump-to-rule box of the rule index (book-preprocessor's `index::jump_box`): typing a
// rule ID, or a former ID kept as an alias, and pressing Enter opens the rule. The input may
// also be written as `r[ID]`, `[ID]` or `#r-ID`; a part of an ID that names one rule only
// opens that rule.
//
// And in the chapters' tables, a long identifier in a cell (a rule ID, a case name) may break
// after each `.`, `_`, `-` or `[`, so that a table fits the column instead of scrolling; and
// printing opens the collapsed reference code; a link to a collapsed block (a monitor's
// code on the page "Monitors") opens it.

(() => {
    function breakable(code) {
        const text = code.textContent;
        if (text.length < 16 || code.children.length > 0) {
            return;
        }
        code.textContent = '';
        for (const part of text.split(/(?<=[._\-[])/)) {
            code.append(part, document.createElement('wbr'));
        }
        code.lastChild.remove();
    }

    document.addEventListener('DOMContentLoaded', () => {
        document.querySelectorAll('.table-wrapper td code').forEach(breakable);
    });

    // A printed page shows the reference code that the screen keeps collapsed.
    window.addEventListener('beforeprint', () => {
        document.querySelectorAll('details.reference, details[id^="code-"]').forEach((d) => {
            d.open = true;
        });
    });

    // The target of the address's fragment, when it is a collapsed block, opens.
    function openTarget() {
        const id = decodeURIComponent(window.location.hash.slice(1));
        const target = id ? document.getElementById(id) : null;
        if (target instanceof HTMLDetailsElement && !target.open) {
            target.open = true;
            target.scrollIntoView();
        }
    }
    document.addEventListener('DOMContentLoaded', openTarget);
    window.addEventListener('hashchange', openTarget);

    function normalise(text) {
        let id = text.trim().toLowerCase();
        id = id.replace(/^#?r-/, '').replace(/^r?\[/, '').replace(/\]$/, '');
        return id;
    }

    document.addEventListener('DOMContentLoaded', () => {
        const form = document.querySelector('form.rule-jump');
        if (!form) {
            return;
        }
        const input = form.querySelector('input');
        const status = form.querySelector('.rule-jump-status');
        const options = Array.from(document.querySelectorAll('#rule-ids option'));
        form.addEventListener('submit', (event) => {
            event.preventDefault();
            const id = normalise(input.value);
            if (id === '') {
                status.textContent = '';
                return;
            }
            let hits = options.filter((o) => o.value === id);
            if (hits.length === 0) {
                hits = options.filter((o) => o.value.includes(id));
            }
            if (hits.length === 1) {
                status.textContent = '';
                window.location.href = hits[0].dataset.href;
            } else if (hits.length === 0) {
                status.textContent = 'No rule ID contains “' + id + '”.';
            } else {
                status.textContent = hits.length + ' rules match; pick one from the list.';
            }
        });
    });
})();
