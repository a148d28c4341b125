// The task form: a prompt for program executors, steps for browser and computer ones, and a
// goal in words for a computer executor a model drives (data-goal).
// The steps live in a JSON textarea (which works without this script); the
// builder edits that list: add, move up, remove, and fields per action.
"use strict";

(function () {
  // Per kind of executor: each action's fields. A field is text, unless NUMBERS or CHOICES say.
  const FIELDS = {
    browser: {
      open: ["url"], click: ["selector"], fill: ["selector", "value"], press: ["key", "selector"],
      select: ["selector", "value"], wait: ["selector", "text"], read: ["selector", "attribute"],
      screenshot: ["selector"], pdf: [],
    },
    computer: {
      screenshot: [], move: ["x", "y"], click: ["x", "y", "button", "count"], type: ["text"], key: ["keys"],
      scroll: ["direction", "amount", "x", "y"], drag: ["x", "y", "to_x", "to_y"], wait: ["seconds", "title"],
      focus: ["title"],
    },
  };
  const FIRST = { browser: { action: "open", url: "https://" }, computer: { action: "screenshot" } };
  const TITLES = { browser: "Browser steps", computer: "Desktop steps" };
  const NUMBERS = ["x", "y", "to_x", "to_y", "count", "amount", "seconds"];
  const CHOICES = { button: ["", "left", "middle", "right"], direction: ["down", "up", "left", "right"] };
  // Desktop actions with points on the screen, the fields each tap on a screenshot fills (a drag
  // takes two: where it starts, then where it ends) and what to tap for.
  const POINTS = {
    move: [["x", "y", "where the pointer goes"]], click: [["x", "y", "where to click"]],
    scroll: [["x", "y", "where to scroll"]],
    drag: [["x", "y", "where the drag starts"], ["to_x", "to_y", "where it ends"]],
  };

  document.querySelectorAll("form.task-form").forEach((form) => {
    const select = form.querySelector("select[name=executor]");
    const stepsField = form.querySelector("[data-steps]");
    const prompt = form.querySelector(".prompt-field textarea");
    const textarea = stepsField && stepsField.querySelector("textarea");
    const builder = stepsField && stepsField.querySelector("[data-step-builder]");
    const optional = form.querySelector(".prompt-field [data-optional]");
    const screenUrl = form.dataset.screenUrl;  // the newest screenshot of an executor's screen
    if (!select) return;

    // The kind of steps the chosen executor runs ("browser" or "computer"), or "" for a prompt.
    function stepKind() {
      const option = select.selectedOptions[0];
      const kind = option && !option.dataset.goal ? option.dataset.kind : "";
      return FIELDS[kind] ? kind : "";
    }
    function isBrowser() { return stepKind() !== ""; }
    // A computer executor a model drives: a goal in words, and no project files either.
    function isGoal() { const option = select.selectedOptions[0]; return Boolean(option && option.dataset.goal); }
    const goalHelp = form.querySelector("[data-goal-help]");
    // The actions the chosen executor offers: a computer executor may allow only some.
    function actions() {
      const kind = stepKind() || "browser";
      const option = select.selectedOptions[0];
      const offered = option && option.dataset.actions ? option.dataset.actions.split(" ") : null;
      return Object.keys(FIELDS[kind]).filter((name) => !offered || offered.includes(name));
    }
    // A browser task's prompt is only its title (the hub names it after the
    // steps without one): marked optional there, required everywhere else.
    // Where it runs (a git project): a browser task changes no files, so it runs in the
    // working copy (the fieldset is disabled, so nothing is sent: the hub's default);
    // a base branch is asked only for a task on its own branch.
    const where = form.querySelector("[data-where]");
    const base = where && where.querySelector("[data-base]");
    function syncWhere() {
      if (!where) return;
      const browser = isBrowser() || isGoal();
      where.hidden = browser;
      where.disabled = browser;
      const chosen = where.querySelector("input[name=workspace]:checked");
      base.hidden = Boolean(chosen && chosen.value !== "worktree");
      base.querySelector("input").disabled = base.hidden;  // not sent: the hub would refuse it
    }
    if (where) where.addEventListener("change", syncWhere);

    // A codex executor's model and effort: only its models, and the efforts the chosen model
    // takes; hidden (and not sent) for any other executor.
    const modelField = form.querySelector("[data-model-field]");
    function syncModel() {
      if (!modelField) return;
      const model = modelField.querySelector("select[name=model]");
      const effort = modelField.querySelector("select[name=effort]");
      const executor = select.value;
      let any = false;
      for (const option of model.options) {
        const mine = option.dataset.executor === "*" || option.dataset.executor === executor;
        option.hidden = !mine;
        option.disabled = !mine;
        any = any || (mine && option.value !== "");
      }
      if (model.selectedOptions[0] && model.selectedOptions[0].disabled) model.value = "";
      for (const option of effort.options) {
        const takers = option.dataset.models.split(" ");
        const fits = option.dataset.models === "*" || (model.value ? takers.includes(model.value) : true);
        option.hidden = !fits;
        option.disabled = !fits;
      }
      if (effort.selectedOptions[0] && effort.selectedOptions[0].disabled) effort.value = "";
      modelField.hidden = !any;
      model.disabled = effort.disabled = !any;
    }
    if (modelField) modelField.addEventListener("change", syncModel);

    function sync() {
      const browser = isBrowser();
      syncWhere();
      syncModel();
      if (stepsField) {
        stepsField.hidden = !browser;
        const kind = stepKind() || "browser";
        stepsField.querySelector("[data-steps-title]").textContent = TITLES[kind];
        stepsField.querySelectorAll("[data-steps-help]").forEach((help) => { help.hidden = help.dataset.stepsHelp !== kind; });
        if (builder) { rendered = null; render(); }
      }
      if (optional) optional.hidden = !browser;
      if (goalHelp) goalHelp.hidden = !isGoal();
      if (prompt) {
        prompt.required = !browser;
        prompt.placeholder = browser
          ? "What the steps are for"
          : isGoal() ? "Open the Notes window and write milk in it" : "Turn this into a bulleted list";
      }
    }
    let rendered = null;  // the JSON the builder shows: a blur that changed nothing must not rebuild it
    let picker = null;  // the open "Pick on screen" (below)
    select.addEventListener("change", sync);
    sync();
    if (!stepsField) return;

    function read() {
      try { const steps = JSON.parse(textarea.value || "[]"); return Array.isArray(steps) ? steps : null; } catch { return null; }
    }
    function write(steps) { textarea.value = JSON.stringify(steps, null, 1); render(); }

    function render() {
      if (textarea.value === rendered) return;
      rendered = textarea.value;
      const steps = read();
      builder.hidden = steps === null;
      if (steps === null) return;  // hand-written JSON that does not parse: leave it to the hub's message
      picker = null;  // it goes with the rows
      builder.replaceChildren();
      steps.forEach((step, index) => builder.append(row(steps, step, index)));
      const add = document.createElement("button");
      add.type = "button";
      add.className = "secondary small";
      add.textContent = "Add a step";
      add.addEventListener("click", () => write([...steps, { ...FIRST[stepKind() || "browser"] }]));
      builder.append(add);
    }

    function row(steps, step, index) {
      const box = document.createElement("div");
      box.className = "step-row";
      const number = document.createElement("span");
      number.className = "step-number";
      number.textContent = String(index + 1);
      const action = document.createElement("select");
      action.setAttribute("aria-label", `Step ${index + 1} action`);
      const fields = FIELDS[stepKind() || "browser"];
      actions().forEach((name) => action.append(new Option(name, name, false, name === step.action)));
      action.addEventListener("change", () => { steps[index] = { action: action.value }; write(steps); });
      box.append(number, action);
      const inputs = {};
      (fields[step.action] || []).forEach((field) => {
        const input = field in CHOICES ? document.createElement("select") : document.createElement("input");
        if (field in CHOICES) {
          CHOICES[field].forEach((choice) => input.append(new Option(choice || `${field}: default`, choice)));
        } else {
          input.type = NUMBERS.includes(field) ? "number" : "text";
          if (input.type === "number") { input.inputMode = "decimal"; input.min = "0"; input.step = "any"; }
          input.placeholder = field;
        }
        input.setAttribute("aria-label", `Step ${index + 1} ${field}`);
        input.value = step[field] === undefined ? "" : String(step[field]);
        input.addEventListener("change", () => {
          // Numbers go as numbers (the hub refuses "12" for x); what does not parse is left as typed.
          const value = NUMBERS.includes(field) && input.value !== "" && !Number.isNaN(Number(input.value)) ? Number(input.value) : input.value;
          if (input.value !== "") steps[index][field] = value; else delete steps[index][field];
          textarea.value = rendered = JSON.stringify(steps, null, 1);
          if (picker && picker.step === step) picker.place();
        });
        inputs[field] = input;
        box.append(input);
      });
      if (stepKind() === "computer" && POINTS[step.action] && screenUrl) {
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "secondary small";
        pick.textContent = "Pick on screen";
        pick.setAttribute("aria-expanded", "false");
        pick.addEventListener("click", () => togglePicker(box, pick, step, index, inputs));
        box.append(pick);
      }
      const up = document.createElement("button");
      up.type = "button";
      up.className = "link";
      up.textContent = "Up";
      up.disabled = index === 0;
      up.addEventListener("click", () => { [steps[index - 1], steps[index]] = [steps[index], steps[index - 1]]; write(steps); });
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => { steps.splice(index, 1); write(steps); });
      box.append(up, remove);
      return box;
    }

    // "Pick on screen": under a step, the newest screenshot of the chosen executor's screen (the
    // hub's fragment); a tap fills the step's fields in the screenshot's own pixels, whatever
    // size the phone shows it at, and a marker shows each point. One open at a time (picker).
    function closePicker() {
      if (!picker) return;
      picker.panel.remove();
      picker.button.setAttribute("aria-expanded", "false");
      picker = null;
    }

    async function togglePicker(box, button, step, index, inputs) {
      const again = picker && picker.step === step;
      closePicker();
      if (again) return;
      const panel = document.createElement("div");
      panel.className = "screen-picker";
      panel.setAttribute("role", "group");
      panel.setAttribute("aria-label", `Pick on screen for step ${index + 1}`);
      const hint = document.createElement("p");
      hint.className = "screen-hint";
      hint.setAttribute("aria-live", "polite");
      hint.textContent = "Loading the newest screenshot…";
      const body = document.createElement("div");
      const tools = document.createElement("div");
      tools.className = "screen-tools";
      const zoom = document.createElement("button");
      zoom.type = "button";
      zoom.className = "secondary small";
      zoom.textContent = "Actual size";
      zoom.hidden = true;
      const close = document.createElement("button");
      close.type = "button";
      close.className = "secondary small";
      close.textContent = "Done";
      close.addEventListener("click", () => { closePicker(); button.focus(); });
      tools.append(zoom, close);
      panel.append(hint, body, tools);
      box.after(panel);
      button.setAttribute("aria-expanded", "true");
      const mine = { panel, button, step, place() {} };
      picker = mine;
      let html = null;
      try {
        const query = new URLSearchParams({ executor: select.value });
        const response = await fetch(`${screenUrl}?${query}`, { credentials: "same-origin" });
        html = response.ok ? await response.text() : null;
        if (!response.ok && picker === mine) hint.textContent = `The hub gave no screenshot (${response.status}): reload the page and try again.`;
      } catch {
        if (picker === mine) hint.textContent = "Could not reach the hub. Check the connection and tap Pick on screen again.";
      }
      if (picker !== mine || html === null) return;  // closed, or the rows rebuilt, while it loaded
      body.innerHTML = html;  // rendered and escaped by the hub
      const image = body.querySelector("[data-screen-image]");
      if (!image) { hint.hidden = true; return; }  // the fragment says how to get one
      const points = POINTS[step.action];
      hint.textContent = points.length > 1
        ? `Step ${index + 1}: tap ${points[0][2]}, then ${points[1][2]}.`
        : `Step ${index + 1}: tap ${points[0][2]}.`;
      wirePicker(mine, image, zoom, step, points, inputs);
    }

    function wirePicker(mine, image, zoom, step, points, inputs) {
      const canvas = image.closest("[data-screen-canvas]");
      const frame = image.closest("[data-screen-frame]");
      // What was picked goes under the image: a longer line above it would move it under the finger.
      const readout = document.createElement("p");
      readout.className = "screen-readout";
      readout.setAttribute("aria-live", "polite");
      frame.after(readout);
      let next = 0;  // the point the next tap sets
      const markers = points.map((_, n) => {
        const marker = document.createElement("span");
        marker.className = "screen-marker";
        if (points.length > 1) marker.append(Object.assign(document.createElement("b"), { textContent: String(n + 1) }));
        marker.hidden = true;
        canvas.append(marker);
        return marker;
      });
      function at(n) {
        const [fx, fy] = points[n];
        return Number.isInteger(step[fx]) && Number.isInteger(step[fy]) ? [step[fx], step[fy]] : null;
      }
      function say() {
        const size = `${image.naturalWidth}×${image.naturalHeight}`;
        const done = points.map((_, n) => at(n));
        if (points.length === 1) {
          readout.textContent = done[0] ? `At ${done[0].join(", ")} of ${size}. Tap again to change it.` : "";
        } else if (next === 1) {
          readout.textContent = `Starts at ${done[0].join(", ")}. Now tap ${points[1][2]}.`;
        } else {
          readout.textContent = done[0] && done[1]
            ? `From ${done[0].join(", ")} to ${done[1].join(", ")} of ${size}. Tap again to start over.`
            : "";
        }
        readout.hidden = !readout.textContent;
      }
      mine.place = () => {
        if (!image.naturalWidth) return;
        markers.forEach((marker, n) => {
          const point = at(n);
          marker.hidden = !point;
          if (!point) return;
          marker.style.left = `${((point[0] + 0.5) / image.naturalWidth) * 100}%`;
          marker.style.top = `${((point[1] + 0.5) / image.naturalHeight) * 100}%`;
        });
        say();
      };
      image.addEventListener("click", (event) => {
        if (!image.naturalWidth) return;  // not loaded yet
        // The image is shown at the phone's size: scale by its natural size over its shown size.
        const box = image.getBoundingClientRect();
        const x = pixel(event.clientX - box.left, image.naturalWidth / box.width, image.naturalWidth);
        const y = pixel(event.clientY - box.top, image.naturalHeight / box.height, image.naturalHeight);
        const [fx, fy] = points[next];
        fill(inputs[fx], x);
        fill(inputs[fy], y);
        next = (next + 1) % points.length;
        mine.place();
      });
      zoom.addEventListener("click", () => {
        const actual = frame.classList.toggle("actual");
        zoom.textContent = actual ? "Fit to screen" : "Actual size";
      });
      function loaded() {
        zoom.hidden = image.naturalWidth <= image.clientWidth;  // already shown at its own size
        mine.place();
        mine.panel.scrollIntoView({ block: "nearest" });
      }
      if (image.complete && image.naturalWidth) loaded(); else image.addEventListener("load", loaded, { once: true });
      image.addEventListener("error", () => { readout.hidden = false; readout.textContent = "The screenshot did not load. Tap Pick on screen again."; }, { once: true });
    }

    // A pixel of the screenshot: rounded, and inside it (a tap on the very edge rounds out).
    function pixel(offset, scale, size) { return Math.min(size - 1, Math.max(0, Math.round(offset * scale))); }
    function fill(input, value) { input.value = String(value); input.dispatchEvent(new Event("change")); }

    // Follow the JSON as it is typed or pasted, not on blur: a rebuild on blur
    // would move the Send button out from under the tap that caused it.
    let pending = null;
    textarea.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(render, 250); });
    textarea.addEventListener("change", render);
    render();
  });
})();
