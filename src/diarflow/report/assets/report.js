/* diarflow episode report: timeline, transcript and audio, drawn from the embedded JSON.
 *
 * Plain JavaScript, no dependencies. Artifact text only ever reaches the page
 * through textContent (never innerHTML). The timeline draws only the visible
 * range on a canvas; the transcript renders a paragraph when it comes near the
 * viewport and empties it again when it leaves, so an 80,000-word episode keeps
 * a few hundred word elements in the document at any time.
 */
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const WORDS = DATA.words;
  const TURNS = DATA.turns;
  const SPEAKERS = DATA.speakers;
  const PARAGRAPHS = DATA.paragraphs;
  const WORD_COUNT = WORDS.text.length;
  const TURN_COUNT = TURNS.start.length;
  const DURATION_MS = Math.max(DATA.durationMs, 1000);
  const LOW_CONFIDENCE_PCT = DATA.lowConfidencePct;
  const FLAG_LOW_CONFIDENCE = 1;
  const FLAG_ALTERNATIVES = 2;
  const FLAG_UNCERTAIN = FLAG_LOW_CONFIDENCE | FLAG_ALTERNATIVES;
  // No space before this word (Chinese, Japanese, Thai…): the server decides, by diarflow.domain.text's rule.
  const FLAG_JOINS_PREVIOUS = 4;
  // Characters about twice as wide as a Latin letter (Han, kana, Hangul, full-width forms), for height estimates.
  const WIDE_CHARACTERS = new RegExp(
    "[\\u1100-\\u115f\\u2e80-\\u303e\\u3041-\\ua4cf\\uac00-\\ud7a3\\uf900-\\ufaff\\ufe30-\\ufe4f\\uff00-\\uff60\\uffe0-\\uffe6]" +
      "|[\\ud840-\\ud8bf][\\udc00-\\udfff]", // planes 2 and 3: CJK extensions B and later
    "g",
  );
  const UNATTRIBUTED = -1;
  const UNATTRIBUTED_COLOR = "#94a3b8";

  const byId = (id) => document.getElementById(id);
  const colorOf = (speaker) => (speaker >= 0 ? SPEAKERS[live(speaker)].color : UNATTRIBUTED_COLOR);
  const nameOf = (speaker) => (speaker >= 0 ? SPEAKERS[live(speaker)].name : "Unattributed");

  /** The speaker a (possibly merged) speaker's speech shows under now: a word's alternatives keep the old index. */
  function live(speaker) {
    let current = speaker;
    while (current >= 0 && SPEAKERS[current].mergedInto >= 0) current = SPEAKERS[current].mergedInto;
    return current;
  }
  const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

  // ---------------------------------------------------------------- helpers

  function formatTime(seconds, withTenths) {
    const value = Math.max(0, seconds);
    const whole = withTenths ? Math.floor(value * 10) / 10 : Math.round(value);
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const secs = whole % 60;
    const secText = withTenths ? secs.toFixed(1).padStart(4, "0") : String(Math.floor(secs)).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secText}` : `${minutes}:${secText}`;
  }

  function formatSpan(ms) {
    const seconds = ms / 1000;
    if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  /** First index whose value is greater than `value` (arrays sorted ascending). */
  function upperBound(array, value, low = 0, high = array.length) {
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (array[mid] <= value) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** First index whose value is not less than `value`. */
  function lowerBound(array, value, low = 0, high = array.length) {
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (array[mid] < value) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Whether a space separates word `i` from the word before it (never before the first word). */
  function spaceBefore(i) {
    return i > 0 && !(WORDS.flags[i] & FLAG_JOINS_PREVIOUS);
  }

  /** Columns word `i` takes, a wide character counting two, plus the space before it. */
  function wordColumns(i) {
    const text = WORDS.text[i];
    let columns = text.length + (spaceBefore(i) ? 1 : 0);
    if (/[\u1100-\uffff]/.test(text)) columns += (text.match(WIDE_CHARACTERS) || []).length; // no wide one below
    return columns;
  }

  /** Talk time of turns sorted by start: their union, overlapping speech counted once (as the server counts it). */
  function speechSeconds(turns) {
    let total = 0;
    let runStart = -1;
    let runEnd = -1;
    for (const turn of turns) {
      if (TURNS.start[turn] > runEnd) {
        total += runEnd - runStart;
        runStart = TURNS.start[turn];
        runEnd = TURNS.end[turn];
      } else {
        runEnd = Math.max(runEnd, TURNS.end[turn]);
      }
    }
    return (total + runEnd - runStart) / 1000;
  }

  /** The word being spoken at `ms` (the last one started), or -1 before the first. */
  function wordAt(ms) {
    return upperBound(WORDS.start, ms) - 1;
  }

  // ---------------------------------------------------------------- tooltip

  const tooltip = byId("tooltip");
  let tooltipOwner = null;

  function showTooltip(owner, fill, anchor) {
    tooltipOwner = owner;
    tooltip.replaceChildren();
    fill(tooltip);
    tooltip.hidden = false;
    const width = tooltip.offsetWidth;
    const height = tooltip.offsetHeight;
    let top = anchor.top - height - 8;
    if (top < 4) top = anchor.bottom + 8;
    const left = clamp(anchor.left + anchor.width / 2 - width / 2, 4, window.innerWidth - width - 4);
    tooltip.style.left = `${left}px`;
    tooltip.style.top = `${clamp(top, 4, window.innerHeight - height - 4)}px`;
  }

  function hideTooltip(owner) {
    if (owner === undefined || owner === tooltipOwner) {
      tooltip.hidden = true;
      tooltipOwner = null;
    }
  }

  function tooltipRow(parent, text, className, dotColor) {
    const row = element("div", `t-row${className ? ` ${className}` : ""}`);
    if (dotColor) {
      const dot = element("span", "t-dot");
      dot.style.background = dotColor;
      row.append(dot);
    }
    row.append(text);
    parent.append(row);
    return row;
  }

  // ---------------------------------------------------------------- audio

  const audio = byId("audio");
  const audioNote = byId("audio-note");
  let audioReady = false;
  let cursorMs = null;

  if (DATA.audio) {
    audioNote.textContent = "Loading audio…";
    audio.addEventListener("loadedmetadata", () => {
      audioReady = true;
      audioNote.textContent = "";
      audioNote.classList.remove("problem");
    });
    audio.addEventListener("error", () => {
      audioReady = false;
      audio.removeAttribute("src");
      audioNote.textContent = "Audio not reachable: clicks move the transcript only.";
      audioNote.title = DATA.audio;
      audioNote.classList.add("problem");
    });
    audio.src = DATA.audio;
  }

  /** Move the whole page to a moment: audio, timeline cursor and transcript. */
  function goTo(ms, options) {
    const opts = options || {};
    cursorMs = ms;
    if (audioReady) {
      audio.currentTime = ms / 1000;
      if (opts.play !== false && audio.paused) {
        const playing = audio.play();
        if (playing) playing.catch(() => {});
      }
    }
    timeline.setCursor(ms, opts.keepTimelineView !== true);
    const word = opts.word !== undefined ? opts.word : firstWordFrom(ms);
    if (word >= 0) {
      transcript.setCurrent(word);
      if (opts.scrollTranscript !== false) transcript.reveal(word, opts.flash === true);
    }
  }

  /** The first word that ends after `ms` (the word a turn starting at `ms` opens with). */
  function firstWordFrom(ms) {
    if (!WORD_COUNT) return -1;
    let index = Math.max(0, wordAt(ms));
    if (WORDS.end[index] < ms && index + 1 < WORD_COUNT) index += 1;
    return index;
  }

  // ---------------------------------------------------------------- timeline

  const AXIS_HEIGHT = 22;
  const LANE_HEIGHT = 24;
  const LANE_GAP = 6;
  const GUTTER = 156;
  const RIGHT_PAD = 10;
  const OVERVIEW_HEIGHT = 30;
  const TICK_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

  class Timeline {
    constructor() {
      this.box = byId("timeline");
      this.canvas = byId("timeline-canvas");
      this.context = this.canvas.getContext("2d");
      this.overviewBox = byId("overview");
      this.overviewCanvas = byId("overview-canvas");
      this.overviewContext = this.overviewCanvas.getContext("2d");
      this.overviewCache = document.createElement("canvas");
      this.rangeLabel = byId("timeline-range");
      this.lanes = this.buildLanes();
      this.viewStart = 0;
      this.viewSpan = DURATION_MS;
      this.minSpan = Math.min(4000, DURATION_MS);
      this.hoverTurn = -1;
      this.selectedTurn = -1;
      this.drag = null;
      this.drawPending = false;
      this.width = 0;
      this.bindEvents();
      new ResizeObserver(() => this.resize()).observe(this.box);
      this.resize();
    }

    buildLanes() {
      const everyLane = SPEAKERS.map((speaker, index) => ({ speaker: index, turns: [], longest: 0 }));
      let unattributed = null;
      for (let turn = 0; turn < TURN_COUNT; turn++) {
        const speaker = TURNS.speaker[turn];
        let lane = speaker >= 0 ? everyLane[speaker] : unattributed;
        if (!lane) lane = unattributed = { speaker: UNATTRIBUTED, turns: [], longest: 0 };
        lane.turns.push(turn);
        lane.longest = Math.max(lane.longest, TURNS.end[turn] - TURNS.start[turn]);
      }
      const lanes = everyLane.filter((lane) => SPEAKERS[lane.speaker].mergedInto < 0);
      if (unattributed) lanes.push(unattributed);
      for (const lane of lanes) {
        lane.turns = Int32Array.from(lane.turns);
        lane.starts = Float64Array.from(lane.turns, (turn) => TURNS.start[turn]);
        lane.talk = lane.speaker >= 0 ? speechSeconds(lane.turns) : null;
      }
      this.laneOfSpeaker = new Map(lanes.map((lane, index) => [lane.speaker, index]));
      return lanes;
    }

    /** Lanes again after an edit moved turns between speakers (the timeline's height may change). */
    rebuild() {
      this.lanes = this.buildLanes();
      this.resize();
    }

    get plotWidth() {
      return Math.max(10, this.width - GUTTER - RIGHT_PAD);
    }

    get height() {
      return AXIS_HEIGHT + 4 + Math.max(1, this.lanes.length) * (LANE_HEIGHT + LANE_GAP);
    }

    laneTop(lane) {
      return AXIS_HEIGHT + 4 + lane * (LANE_HEIGHT + LANE_GAP);
    }

    xOf(ms) {
      return GUTTER + ((ms - this.viewStart) / this.viewSpan) * this.plotWidth;
    }

    timeAt(x) {
      return this.viewStart + ((x - GUTTER) / this.plotWidth) * this.viewSpan;
    }

    resize() {
      const ratio = window.devicePixelRatio || 1;
      this.width = this.box.clientWidth;
      for (const [canvas, height] of [
        [this.canvas, this.height],
        [this.overviewCanvas, OVERVIEW_HEIGHT],
        [this.overviewCache, OVERVIEW_HEIGHT],
      ]) {
        canvas.width = Math.round(this.width * ratio);
        canvas.height = Math.round(height * ratio);
        if (canvas !== this.overviewCache) canvas.style.height = `${height}px`;
      }
      this.drawOverviewCache();
      this.draw();
    }

    clampView() {
      this.viewSpan = clamp(this.viewSpan, this.minSpan, DURATION_MS);
      this.viewStart = clamp(this.viewStart, 0, DURATION_MS - this.viewSpan);
    }

    zoom(factor, aroundMs) {
      const anchor = aroundMs !== undefined ? aroundMs : this.zoomAnchor();
      const share = (anchor - this.viewStart) / this.viewSpan;
      this.viewSpan = clamp(this.viewSpan * factor, this.minSpan, DURATION_MS);
      this.viewStart = anchor - share * this.viewSpan;
      this.clampView();
      this.requestDraw();
    }

    zoomAnchor() {
      const cursorVisible = cursorMs !== null && cursorMs >= this.viewStart && cursorMs <= this.viewStart + this.viewSpan;
      return cursorVisible ? cursorMs : this.viewStart + this.viewSpan / 2;
    }

    fit() {
      this.viewStart = 0;
      this.viewSpan = DURATION_MS;
      this.requestDraw();
    }

    panBy(ms) {
      this.viewStart += ms;
      this.clampView();
      this.requestDraw();
    }

    /** Scroll the view so that `ms` is comfortably inside it. */
    reveal(ms) {
      const margin = this.viewSpan * 0.08;
      if (ms < this.viewStart + margin || ms > this.viewStart + this.viewSpan - margin) {
        this.viewStart = ms - this.viewSpan * 0.25;
        this.clampView();
      }
    }

    setCursor(ms, revealIt) {
      if (revealIt) this.reveal(ms);
      this.requestDraw();
    }

    select(turn) {
      this.selectedTurn = turn;
      this.requestDraw();
      if (editor) editor.showTurn(turn);
    }

    requestDraw() {
      if (this.drawPending) return;
      this.drawPending = true;
      requestAnimationFrame(() => {
        this.drawPending = false;
        this.draw();
      });
    }

    /** Indices (into the lane's list) of the turns that may show in [fromMs, toMs]. */
    visibleRange(lane, fromMs, toMs) {
      const first = lowerBound(lane.starts, fromMs - lane.longest);
      const last = upperBound(lane.starts, toMs);
      return [first, last];
    }

    draw() {
      const ctx = this.context;
      const ratio = window.devicePixelRatio || 1;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, this.width, this.height);
      const viewEnd = this.viewStart + this.viewSpan;
      const plotRight = GUTTER + this.plotWidth;

      // lane bands and labels
      ctx.font = "600 12.5px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.textBaseline = "middle";
      this.lanes.forEach((lane, index) => {
        const top = this.laneTop(index);
        ctx.fillStyle = index % 2 ? "#ffffff" : "#f8fafc";
        ctx.fillRect(GUTTER, top - LANE_GAP / 2, this.plotWidth, LANE_HEIGHT + LANE_GAP);
        const color = colorOf(lane.speaker);
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.arc(8, top + LANE_HEIGHT / 2, 4.5, 0, Math.PI * 2);
        ctx.fill();
        const talk = lane.talk !== null ? formatTime(lane.talk) : "";
        ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
        const talkWidth = talk ? ctx.measureText(talk).width : 0;
        ctx.fillStyle = "#64748b";
        ctx.textAlign = "right";
        if (talk) ctx.fillText(talk, GUTTER - 10, top + LANE_HEIGHT / 2);
        ctx.textAlign = "left";
        ctx.font = lane.speaker >= 0
          ? "600 12.5px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
          : "italic 12.5px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
        ctx.fillStyle = lane.speaker >= 0 ? "#0f172a" : "#64748b";
        ctx.fillText(this.fitText(ctx, nameOf(lane.speaker), GUTTER - 32 - talkWidth), 18, top + LANE_HEIGHT / 2);
      });

      // time axis and grid
      const step = this.tickStep();
      const firstTick = Math.ceil(this.viewStart / step) * step;
      ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "alphabetic";
      const gridBottom = this.height - LANE_GAP / 2;
      for (let tick = firstTick; tick <= viewEnd; tick += step) {
        const x = Math.round(this.xOf(tick)) + 0.5;
        ctx.fillStyle = "#e2e8f0";
        ctx.fillRect(x - 0.5, AXIS_HEIGHT - 2, 1, gridBottom - AXIS_HEIGHT + 2);
        ctx.fillStyle = "#64748b";
        ctx.fillText(formatTime(tick / 1000), clamp(x, GUTTER + 18, plotRight - 18), AXIS_HEIGHT - 7);
      }

      // turns
      ctx.save();
      ctx.beginPath();
      ctx.rect(GUTTER, 0, this.plotWidth, this.height);
      ctx.clip();
      const pxPerMs = this.plotWidth / this.viewSpan;
      this.lanes.forEach((lane, index) => {
        const top = this.laneTop(index) + 2;
        const barHeight = LANE_HEIGHT - 4;
        const [first, last] = this.visibleRange(lane, this.viewStart, viewEnd);
        const sure = new Path2D();
        const unsure = new Path2D();
        for (let k = first; k < last; k++) {
          const turn = lane.turns[k];
          if (TURNS.end[turn] < this.viewStart) continue;
          const x = GUTTER + (TURNS.start[turn] - this.viewStart) * pxPerMs;
          const width = Math.max(1, (TURNS.end[turn] - TURNS.start[turn]) * pxPerMs);
          const confidence = TURNS.conf[turn];
          (confidence >= 0 && confidence < LOW_CONFIDENCE_PCT ? unsure : sure).rect(x, top, width, barHeight);
        }
        ctx.fillStyle = colorOf(lane.speaker);
        ctx.globalAlpha = lane.speaker >= 0 ? 0.92 : 0.6;
        ctx.fill(sure);
        ctx.globalAlpha = 0.38;
        ctx.fill(unsure);
        ctx.globalAlpha = 1;
      });
      for (const [turn, style, width] of [
        [this.hoverTurn, "rgba(15,23,42,0.55)", 1.5],
        [this.selectedTurn, "#0f172a", 2],
      ]) {
        if (turn < 0) continue;
        const lane = this.laneOfSpeaker.get(TURNS.speaker[turn]);
        const x = this.xOf(TURNS.start[turn]);
        const barWidth = Math.max(1, this.xOf(TURNS.end[turn]) - x);
        ctx.strokeStyle = style;
        ctx.lineWidth = width;
        ctx.strokeRect(x - 1, this.laneTop(lane) + 1, barWidth + 2, LANE_HEIGHT - 2);
      }
      ctx.restore();

      // playhead / cursor
      const playhead = this.playheadMs();
      if (playhead !== null && playhead >= this.viewStart && playhead <= viewEnd) {
        const x = Math.round(this.xOf(playhead)) + 0.5;
        ctx.fillStyle = "#dc2626";
        ctx.fillRect(x - 1, AXIS_HEIGHT - 4, 2, gridBottom - AXIS_HEIGHT + 4);
        ctx.beginPath();
        ctx.moveTo(x - 5, AXIS_HEIGHT - 10);
        ctx.lineTo(x + 5, AXIS_HEIGHT - 10);
        ctx.lineTo(x, AXIS_HEIGHT - 3);
        ctx.fill();
      }

      this.drawOverview(playhead);
      const whole = this.viewSpan >= DURATION_MS - 1;
      this.rangeLabel.textContent = `${formatTime(this.viewStart / 1000)} – ${formatTime(viewEnd / 1000)}` +
        (whole ? " · whole episode" : ` · ${formatSpan(this.viewSpan)} shown`);
    }

    playheadMs() {
      if (audioReady && (!audio.paused || audio.currentTime > 0)) return audio.currentTime * 1000;
      return cursorMs;
    }

    tickStep() {
      const msPerPx = this.viewSpan / this.plotWidth;
      for (const seconds of TICK_STEPS) {
        if ((seconds * 1000) / msPerPx >= 84) return seconds * 1000;
      }
      return TICK_STEPS[TICK_STEPS.length - 1] * 1000;
    }

    fitText(ctx, text, maxWidth) {
      if (ctx.measureText(text).width <= maxWidth) return text;
      let end = text.length;
      while (end > 1 && ctx.measureText(`${text.slice(0, end)}…`).width > maxWidth) end -= 1;
      return `${text.slice(0, end)}…`;
    }

    drawOverviewCache() {
      const ctx = this.overviewCache.getContext("2d");
      const ratio = window.devicePixelRatio || 1;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, this.width, OVERVIEW_HEIGHT);
      ctx.fillStyle = "#f1f5f9";
      ctx.fillRect(GUTTER, 0, this.plotWidth, OVERVIEW_HEIGHT);
      const laneHeight = Math.max(2, (OVERVIEW_HEIGHT - 4) / Math.max(1, this.lanes.length));
      const pxPerMs = this.plotWidth / DURATION_MS;
      this.lanes.forEach((lane, index) => {
        const path = new Path2D();
        for (let k = 0; k < lane.turns.length; k++) {
          const turn = lane.turns[k];
          const x = GUTTER + TURNS.start[turn] * pxPerMs;
          path.rect(x, 2 + index * laneHeight, Math.max(0.75, (TURNS.end[turn] - TURNS.start[turn]) * pxPerMs), laneHeight - 0.5);
        }
        ctx.fillStyle = colorOf(lane.speaker);
        ctx.globalAlpha = 0.85;
        ctx.fill(path);
      });
      ctx.globalAlpha = 1;
      ctx.font = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.fillStyle = "#64748b";
      ctx.textBaseline = "middle";
      ctx.fillText("Whole episode", 18, OVERVIEW_HEIGHT / 2);
      ctx.textAlign = "right";
      ctx.fillText(formatTime(DURATION_MS / 1000), GUTTER - 10, OVERVIEW_HEIGHT / 2);
    }

    drawOverview(playhead) {
      const ctx = this.overviewContext;
      const ratio = window.devicePixelRatio || 1;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this.overviewCanvas.width, this.overviewCanvas.height);
      ctx.drawImage(this.overviewCache, 0, 0);
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      const pxPerMs = this.plotWidth / DURATION_MS;
      const left = GUTTER + this.viewStart * pxPerMs;
      const width = Math.max(3, this.viewSpan * pxPerMs);
      ctx.fillStyle = "rgba(241,245,249,0.72)";
      ctx.fillRect(GUTTER, 0, left - GUTTER, OVERVIEW_HEIGHT);
      ctx.fillRect(left + width, 0, GUTTER + this.plotWidth - left - width, OVERVIEW_HEIGHT);
      ctx.strokeStyle = "#2563eb";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(left + 0.75, 0.75, width - 1.5, OVERVIEW_HEIGHT - 1.5);
      if (playhead !== null) {
        ctx.fillStyle = "#dc2626";
        ctx.fillRect(GUTTER + playhead * pxPerMs - 0.75, 0, 1.5, OVERVIEW_HEIGHT);
      }
    }

    /** The turn under a point of the canvas (CSS pixels), or -1. */
    turnAt(x, y) {
      if (x < GUTTER) return -1;
      const laneIndex = Math.floor((y - AXIS_HEIGHT - 4 + LANE_GAP / 2) / (LANE_HEIGHT + LANE_GAP));
      const lane = this.lanes[laneIndex];
      if (!lane) return -1;
      const ms = this.timeAt(x);
      const slack = (3 * this.viewSpan) / this.plotWidth;
      const [first, last] = this.visibleRange(lane, ms - slack, ms + slack);
      let best = -1;
      let bestDistance = Infinity;
      for (let k = first; k < last; k++) {
        const turn = lane.turns[k];
        const distance = ms < TURNS.start[turn] ? TURNS.start[turn] - ms : Math.max(0, ms - TURNS.end[turn]);
        if (distance <= slack && distance < bestDistance) {
          best = turn;
          bestDistance = distance;
        }
      }
      return best;
    }

    /** Where a turn is drawn, in viewport coordinates (used by keyboard users' focus and by tests). */
    turnPoint(turn) {
      this.reveal(TURNS.start[turn]);
      this.draw();
      const rect = this.canvas.getBoundingClientRect();
      const lane = this.laneOfSpeaker.get(TURNS.speaker[turn]);
      const start = Math.max(this.xOf(TURNS.start[turn]), GUTTER);
      const end = Math.min(this.xOf(TURNS.end[turn]), GUTTER + this.plotWidth);
      return { x: rect.left + (start + end) / 2, y: rect.top + this.laneTop(lane) + LANE_HEIGHT / 2 };
    }

    showTurnTooltip(turn, clientX) {
      const rect = this.canvas.getBoundingClientRect();
      const lane = this.laneOfSpeaker.get(TURNS.speaker[turn]);
      const anchor = { left: clientX - 1, width: 2, top: rect.top + this.laneTop(lane), bottom: rect.top + this.laneTop(lane) + LANE_HEIGHT };
      showTooltip(`turn:${turn}`, (box) => {
        const speaker = TURNS.speaker[turn];
        tooltipRow(box, nameOf(speaker), "t-title", colorOf(speaker));
        const start = TURNS.start[turn] / 1000;
        const end = TURNS.end[turn] / 1000;
        tooltipRow(box, `${formatTime(start, true)} → ${formatTime(end, true)} · ${(end - start).toFixed(1)} s`, "t-dim");
        const confidence = TURNS.conf[turn];
        if (confidence >= 0) {
          const low = confidence < LOW_CONFIDENCE_PCT;
          tooltipRow(box, `Confidence ${confidence}%${low ? " · low" : ""}`, low ? "t-warn" : "");
        }
        if (speaker < 0) tooltipRow(box, "Words no speaker turn covers", "t-warn");
        tooltipRow(box, audioReady ? "Click to play from here" : "Click to show in the transcript", "t-dim t-section");
      }, anchor);
    }

    bindEvents() {
      const box = this.box;
      const point = (event) => {
        const rect = this.canvas.getBoundingClientRect();
        return [event.clientX - rect.left, event.clientY - rect.top];
      };
      box.addEventListener("pointerdown", (event) => {
        if (event.button !== 0) return;
        box.setPointerCapture(event.pointerId);
        this.drag = { x: event.clientX, viewStart: this.viewStart, moved: false };
      });
      box.addEventListener("pointermove", (event) => {
        if (this.drag) {
          const dx = event.clientX - this.drag.x;
          if (Math.abs(dx) > 3) this.drag.moved = true;
          if (this.drag.moved) {
            box.classList.add("dragging");
            hideTooltip();
            this.viewStart = this.drag.viewStart - (dx / this.plotWidth) * this.viewSpan;
            this.clampView();
            this.requestDraw();
            return;
          }
        }
        const [x, y] = point(event);
        const turn = this.turnAt(x, y);
        box.classList.toggle("over-turn", turn >= 0);
        if (turn !== this.hoverTurn) {
          this.hoverTurn = turn;
          this.requestDraw();
        }
        if (turn >= 0) this.showTurnTooltip(turn, event.clientX);
        else hideTooltip();
      });
      box.addEventListener("pointerup", (event) => {
        const drag = this.drag;
        this.drag = null;
        box.classList.remove("dragging");
        if (!drag || drag.moved) return;
        const [x, y] = point(event);
        const turn = this.turnAt(x, y);
        if (turn >= 0) {
          this.select(turn);
          goTo(TURNS.start[turn], { keepTimelineView: true, flash: true });
        } else if (x >= GUTTER) {
          this.select(-1);
          goTo(clamp(this.timeAt(x), 0, DURATION_MS), { keepTimelineView: true });
        }
      });
      box.addEventListener("pointercancel", () => {
        this.drag = null;
        box.classList.remove("dragging");
      });
      box.addEventListener("pointerleave", () => {
        if (this.hoverTurn >= 0) {
          this.hoverTurn = -1;
          this.requestDraw();
        }
        hideTooltip();
      });
      box.addEventListener("wheel", (event) => {
        event.preventDefault();
        hideTooltip();
        const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
        const horizontal = event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY);
        if (horizontal) {
          const delta = (event.shiftKey && !event.deltaX ? event.deltaY : event.deltaX) * unit;
          this.panBy((delta / this.plotWidth) * this.viewSpan);
        } else {
          const [x] = point(event);
          const anchor = x >= GUTTER ? this.timeAt(x) : undefined;
          this.zoom(Math.exp(event.deltaY * unit * 0.0018), anchor);
        }
      }, { passive: false });

      const overview = this.overviewBox;
      const centerAt = (event) => {
        const rect = this.overviewCanvas.getBoundingClientRect();
        const ms = ((event.clientX - rect.left - GUTTER) / this.plotWidth) * DURATION_MS;
        this.viewStart = ms - this.viewSpan / 2;
        this.clampView();
        this.requestDraw();
      };
      overview.addEventListener("pointerdown", (event) => {
        if (event.button !== 0) return;
        overview.setPointerCapture(event.pointerId);
        this.overviewDrag = true;
        centerAt(event);
      });
      overview.addEventListener("pointermove", (event) => {
        if (this.overviewDrag) centerAt(event);
      });
      const stop = () => {
        this.overviewDrag = false;
      };
      overview.addEventListener("pointerup", stop);
      overview.addEventListener("pointercancel", stop);

      byId("zoom-in").addEventListener("click", () => this.zoom(0.5));
      byId("zoom-out").addEventListener("click", () => this.zoom(2));
      byId("zoom-fit").addEventListener("click", () => this.fit());
    }
  }

  // ---------------------------------------------------------------- transcript

  const PARAGRAPH_CHROME = 6 + 8 + 19 + 2 + 10; // paddings, heading, margins (px)
  const FOLLOW_PAUSE_MS = 5000;

  class Transcript {
    constructor() {
      this.pane = byId("transcript");
      this.count = PARAGRAPHS.length;
      this.elements = new Array(this.count);
      this.rendered = new Set();
      this.current = -1;
      this.focused = -1;
      this.marks = null; // per word: 0 none, 1 search hit, 2 current search hit
      this.manualScrollAt = -Infinity;
      if (!WORD_COUNT) {
        this.pane.append(element("div", "empty-state", "No transcript words for this run."));
        return;
      }
      this.measure();
      this.characters = new Int32Array(this.count);
      for (let p = 0; p < this.count; p++) {
        let total = 0;
        for (let i = PARAGRAPHS[p], end = this.endOf(p); i < end; i++) total += wordColumns(i);
        this.characters[p] = total;
      }
      const fragment = document.createDocumentFragment();
      for (let p = 0; p < this.count; p++) {
        const node = element("article", "para pending");
        node.dataset.p = String(p);
        const speaker = WORDS.speaker[PARAGRAPHS[p]];
        node.style.setProperty("--c", colorOf(speaker));
        if (speaker < 0) node.classList.add("unattributed");
        node.style.height = `${this.estimate(p)}px`;
        this.elements[p] = node;
        fragment.append(node);
      }
      this.pane.append(fragment);
      this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), {
        root: this.pane,
        rootMargin: "1000px 0px",
      });
      for (const node of this.elements) this.observer.observe(node);
      this.bindEvents();
      let lastWidth = this.pane.clientWidth;
      new ResizeObserver(() => {
        if (this.pane.clientWidth === lastWidth) return;
        lastWidth = this.pane.clientWidth;
        this.measure();
        for (let p = 0; p < this.count; p++) {
          if (!this.rendered.has(p)) this.elements[p].style.height = `${this.estimate(p)}px`;
        }
      }).observe(this.pane);
    }

    measure() {
      const style = getComputedStyle(this.pane);
      const context = document.createElement("canvas").getContext("2d");
      context.font = `${style.fontSize} ${style.fontFamily}`;
      const sample = "the quick brown fox jumps over a lazy dog, and then? ";
      this.characterWidth = context.measureText(sample).width / sample.length;
      this.lineHeight = parseFloat(style.lineHeight) || 25;
      this.textWidth = Math.max(120, this.pane.clientWidth - 4 - 14 - 12 - 3);
    }

    endOf(p) {
      return p + 1 < this.count ? PARAGRAPHS[p + 1] : WORD_COUNT;
    }

    estimate(p) {
      const lines = Math.max(1, Math.ceil((this.characters[p] * this.characterWidth * 1.04) / this.textWidth));
      return PARAGRAPH_CHROME + lines * this.lineHeight;
    }

    paragraphOf(word) {
      return upperBound(PARAGRAPHS, word) - 1;
    }

    onIntersect(entries) {
      for (const entry of entries) {
        const p = Number(entry.target.dataset.p);
        if (entry.isIntersecting) this.render(p);
        else this.release(p, entry.boundingClientRect.height);
      }
    }

    /** A word an edit gave to someone other than its paragraph's speaker: underlined in that speaker's colour. */
    markMoved(span, speaker) {
      span.style.setProperty("--wc", colorOf(speaker));
      span.title = nameOf(speaker);
    }

    /** Colours and names again after an edit: every paragraph's colour, and the rendered ones drawn anew. */
    refreshSpeakers() {
      for (let p = 0; p < this.count; p++) {
        const speaker = WORDS.speaker[PARAGRAPHS[p]];
        this.elements[p].style.setProperty("--c", colorOf(speaker));
        this.elements[p].classList.toggle("unattributed", speaker < 0);
      }
      for (const p of Array.from(this.rendered)) {
        this.rendered.delete(p);
        this.render(p);
      }
    }

    wordClass(i) {
      let name = "w";
      if (WORDS.speaker[i] !== WORDS.speaker[PARAGRAPHS[this.paragraphOf(i)]]) name += " moved";
      const flags = WORDS.flags[i];
      if (flags & FLAG_LOW_CONFIDENCE) name += " lc";
      if (flags & FLAG_ALTERNATIVES) name += " alt";
      if (i === this.current) name += " cur";
      if (i === this.focused) name += " focus";
      if (this.marks && this.marks[i]) name += this.marks[i] === 2 ? " hit hit-current" : " hit";
      return name;
    }

    render(p) {
      if (this.rendered.has(p)) return;
      const node = this.elements[p];
      const first = PARAGRAPHS[p];
      const speaker = WORDS.speaker[first];
      const head = element("header", "para-head");
      head.append(element("span", "who", nameOf(speaker)));
      const shown = live(speaker);
      if (shown >= 0 && SPEAKERS[shown].labels.length && SPEAKERS[shown].labels[0] !== SPEAKERS[shown].name) {
        head.append(element("span", "label-chip", SPEAKERS[shown].labels.join(" ")));
      }
      const at = element("button", "at", formatTime(WORDS.start[first] / 1000));
      at.type = "button";
      at.dataset.word = String(first);
      at.title = "Play from here";
      head.append(at);
      const text = element("p", "words");
      for (let i = first, end = this.endOf(p); i < end; i++) {
        if (i > first && spaceBefore(i)) text.append(" ");
        const span = element("span", this.wordClass(i), WORDS.text[i]);
        span.dataset.i = String(i);
        if (WORDS.speaker[i] !== speaker) this.markMoved(span, WORDS.speaker[i]);
        text.append(span);
      }
      node.replaceChildren(head, text);
      node.classList.remove("pending");
      node.style.height = "";
      this.rendered.add(p);
    }

    release(p, height) {
      if (!this.rendered.has(p)) return;
      const node = this.elements[p];
      node.style.height = `${height}px`;
      node.classList.add("pending");
      node.replaceChildren();
      this.rendered.delete(p);
    }

    wordElement(i) {
      const p = this.paragraphOf(i);
      if (!this.rendered.has(p)) return null;
      return this.elements[p].lastChild.children[i - PARAGRAPHS[p]] || null;
    }

    refreshWord(i) {
      if (i < 0) return;
      const span = this.wordElement(i);
      if (span) span.className = this.wordClass(i);
    }

    refreshRendered() {
      for (const p of this.rendered) {
        const spans = this.elements[p].lastChild.children;
        for (let k = 0; k < spans.length; k++) spans[k].className = this.wordClass(PARAGRAPHS[p] + k);
      }
    }

    setCurrent(i) {
      if (i === this.current) return;
      const previous = this.current;
      this.current = i;
      this.refreshWord(previous);
      this.refreshWord(i);
    }

    setFocused(i) {
      const previous = this.focused;
      this.focused = i;
      this.refreshWord(previous);
      this.refreshWord(i);
    }

    /** Bring a word into view (rendering its paragraph first) and optionally flash its paragraph. */
    reveal(i, flash) {
      const p = this.paragraphOf(i);
      this.render(p);
      const target = this.wordElement(i) || this.elements[p];
      target.scrollIntoView({ block: "center", inline: "nearest" });
      if (flash) {
        const node = this.elements[p];
        node.classList.remove("flash");
        void node.offsetWidth; // restart the animation
        node.classList.add("flash");
      }
      return target;
    }

    /** Keep the playing word visible without jumping while the reader looks elsewhere in the view. */
    follow(i) {
      if (performance.now() - this.manualScrollAt < FOLLOW_PAUSE_MS) return;
      const span = this.wordElement(i);
      if (!span) {
        this.reveal(i, false);
        return;
      }
      const pane = this.pane.getBoundingClientRect();
      const box = span.getBoundingClientRect();
      if (box.top < pane.top + 40 || box.bottom > pane.bottom - 60) {
        span.scrollIntoView({ block: "center", behavior: "smooth" });
      }
    }

    setMarks(marks) {
      this.marks = marks;
      this.refreshRendered();
    }

    showWordTooltip(span) {
      const i = Number(span.dataset.i);
      showTooltip(span, (box) => {
        tooltipRow(box, WORDS.text[i], "t-title");
        tooltipRow(box, `${formatTime(WORDS.start[i] / 1000, true)} – ${formatTime(WORDS.end[i] / 1000, true)}`, "t-dim");
        const speaker = WORDS.speaker[i];
        const confidence = WORDS.conf[i];
        if (speaker < 0) {
          tooltipRow(box, "No speaker: no turn covers this word", "t-warn", UNATTRIBUTED_COLOR);
        } else {
          const confidenceText = confidence >= 0 ? ` · ${confidence}% confident` : " · confidence unknown";
          tooltipRow(box, `${nameOf(speaker)}${confidenceText}`, "", colorOf(speaker));
          if (WORDS.flags[i] & FLAG_LOW_CONFIDENCE) {
            tooltipRow(box, `Low confidence (below ${LOW_CONFIDENCE_PCT}%)`, "t-warn");
          }
        }
        const alternatives = DATA.alternatives[String(i)];
        if (alternatives && alternatives.length) {
          const title = tooltipRow(box, "Could also be", "t-dim t-section");
          title.dataset.role = "alternatives";
          for (const [owner, name, percent] of alternatives) {
            tooltipRow(box, `${name} · ${percent >= 0 ? `${percent}%` : "?"}`, "t-alternative", colorOf(owner));
          }
        }
      }, span.getBoundingClientRect());
    }

    bindEvents() {
      this.pane.addEventListener("click", (event) => {
        const target = event.target;
        if (!(target instanceof HTMLElement)) return;
        if (target.classList.contains("w") && target.dataset.i) {
          const i = Number(target.dataset.i);
          timeline.select(-1);
          goTo(WORDS.start[i], { word: i, scrollTranscript: false });
        } else if (target.classList.contains("at")) {
          const i = Number(target.dataset.word);
          timeline.select(-1);
          goTo(WORDS.start[i], { word: i, scrollTranscript: false });
        }
      });
      this.pane.addEventListener("mouseover", (event) => {
        const target = event.target;
        if (target instanceof HTMLElement && target.classList.contains("w") && target.dataset.i) {
          this.showWordTooltip(target);
        }
      });
      this.pane.addEventListener("mouseout", (event) => {
        if (event.target instanceof HTMLElement && event.target.classList.contains("w")) hideTooltip(event.target);
      });
      this.pane.addEventListener("scroll", () => hideTooltip(), { passive: true });
      // Reading elsewhere suspends "follow playback" for a few seconds.
      const manual = () => {
        this.manualScrollAt = performance.now();
      };
      this.pane.addEventListener("wheel", manual, { passive: true });
      this.pane.addEventListener("touchmove", manual, { passive: true });
      this.pane.addEventListener("keydown", manual);
    }
  }

  // ---------------------------------------------------------------- find and uncertain words

  class Finder {
    constructor() {
      this.input = byId("search-input");
      this.countLabel = byId("search-count");
      this.index = null;
      this.matches = [];
      this.position = -1;
      this.query = "";
      this.uncertain = null;
      byId("search-form").addEventListener("submit", (event) => event.preventDefault());
      this.input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          this.step(event.shiftKey ? -1 : 1);
        } else if (event.key === "Escape") {
          this.input.value = "";
          this.run();
          this.input.blur();
        }
      });
      let timer = 0;
      this.input.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.run(), 160);
      });
      byId("search-next").addEventListener("click", () => this.step(1));
      byId("search-prev").addEventListener("click", () => this.step(-1));
      byId("uncertain-next").addEventListener("click", () => this.stepUncertain(1));
      byId("uncertain-prev").addEventListener("click", () => this.stepUncertain(-1));
      let uncertainCount = 0;
      for (let i = 0; i < WORD_COUNT; i++) if (WORDS.flags[i] & FLAG_UNCERTAIN) uncertainCount++;
      byId("uncertain-label").textContent = `Uncertain · ${uncertainCount.toLocaleString("en-US")}`;
    }

    /** The transcript as one lower-case text, words spaced as on the page, and where each word starts in it. */
    buildIndex() {
      const offsets = new Int32Array(WORD_COUNT);
      const parts = [];
      let position = 0;
      for (let i = 0; i < WORD_COUNT; i++) {
        if (spaceBefore(i)) {
          parts.push(" ");
          position += 1;
        }
        const text = WORDS.text[i].toLowerCase();
        offsets[i] = position;
        parts.push(text);
        position += text.length;
      }
      return { text: parts.join(""), offsets };
    }

    run() {
      if (this.input.value === this.query) return;
      const query = this.input.value.trim().toLowerCase().replace(/\s+/g, " ");
      this.query = this.input.value;
      this.matches = [];
      this.position = -1;
      if (!query || !WORD_COUNT) {
        this.countLabel.textContent = "";
        transcript.setMarks(null);
        return;
      }
      if (!this.index) this.index = this.buildIndex();
      const { text, offsets } = this.index;
      let from = 0;
      while (this.matches.length < 20000) {
        const found = text.indexOf(query, from);
        if (found < 0) break;
        const first = upperBound(offsets, found) - 1;
        const last = upperBound(offsets, found + query.length - 1) - 1;
        this.matches.push([first, last]);
        from = found + query.length;
      }
      this.marks = new Uint8Array(WORD_COUNT);
      for (const [first, last] of this.matches) this.marks.fill(1, first, last + 1);
      transcript.setMarks(this.marks);
      if (!this.matches.length) {
        this.countLabel.textContent = "no match";
        return;
      }
      const anchor = Math.max(transcript.current, 0);
      const next = this.matches.findIndex(([first]) => first >= anchor);
      this.show(next >= 0 ? next : 0);
    }

    step(direction) {
      this.run();
      if (!this.matches.length) return;
      const count = this.matches.length;
      this.show(this.position < 0 ? 0 : (this.position + direction + count) % count);
    }

    show(position) {
      if (this.position >= 0) {
        const [first, last] = this.matches[this.position];
        this.marks.fill(1, first, last + 1);
      }
      this.position = position;
      const [first, last] = this.matches[position];
      this.marks.fill(2, first, last + 1);
      transcript.setMarks(this.marks);
      transcript.reveal(first, false);
      const capped = this.matches.length >= 20000 ? "+" : "";
      this.countLabel.textContent = `${position + 1} / ${this.matches.length.toLocaleString("en-US")}${capped}`;
    }

    stepUncertain(direction) {
      if (!this.uncertain) {
        const found = [];
        for (let i = 0; i < WORD_COUNT; i++) if (WORDS.flags[i] & FLAG_UNCERTAIN) found.push(i);
        this.uncertain = Int32Array.from(found);
      }
      const list = this.uncertain;
      if (!list.length) return;
      const anchor = transcript.focused >= 0 ? transcript.focused : transcript.current;
      let k;
      if (direction > 0) k = upperBound(list, anchor);
      else k = lowerBound(list, anchor) - 1;
      k = (k + list.length) % list.length;
      const word = list[k];
      transcript.setFocused(word);
      const span = transcript.reveal(word, false);
      if (span && span.classList.contains("w")) transcript.showWordTooltip(span);
    }
  }

  // ---------------------------------------------------------------- editing speakers

  /*
   * Edits are a log in the page's own terms (speaker indices, turn times). What the page shows is the report's
   * data with the log replayed on it, so undoing is replaying one edit fewer; the corrections file is the log
   * written in the diarization's speaker keys, as `diarflow speakers apply` takes it (docs/corrections.md).
   * Nothing new is embedded for this: the speakers' keys and the turns' times are already the page's data.
   */
  for (const speaker of SPEAKERS) Object.assign(speaker, { mergedInto: -1, created: false, corrected: Boolean(speaker.namedBy) });
  const AS_REPORTED = {
    speakers: SPEAKERS.map((speaker) => ({ ...speaker })),
    turns: TURNS.speaker.slice(),
    words: WORDS.speaker.slice(),
  };

  function option(value, text) {
    const node = element("option", "", text);
    node.value = value;
    return node;
  }

  /** A speaker the editor named while giving it a turn: it has no key until the corrections are recorded. */
  function pageSpeaker(name, index) {
    const color = DATA.palette[index] || `hsl(${Math.round((index * 137.508) % 360)} 62% 42%)`;
    return {
      name, labels: [], keys: [], channels: [], color, identified: false, talkSeconds: 0, namedBy: null,
      mergedInto: -1, created: true, corrected: true,
    };
  }

  function moveSpeech(from, to) {
    for (let turn = 0; turn < TURN_COUNT; turn++) if (TURNS.speaker[turn] === from) TURNS.speaker[turn] = to;
    for (let i = 0; i < WORD_COUNT; i++) if (WORDS.speaker[i] === from) WORDS.speaker[i] = to;
  }

  const EDITS = {
    rename(edit) {
      Object.assign(SPEAKERS[edit.speaker], { name: edit.name, corrected: true });
    },
    merge(edit) {
      const kept = SPEAKERS[edit.speaker];
      const merged = SPEAKERS[edit.merged];
      moveSpeech(edit.merged, edit.speaker);
      merged.mergedInto = edit.speaker;
      // As the corrections step does: the kept speaker takes the merged one's corrected name when it has none.
      if (!merged.created && merged.corrected && !kept.corrected) Object.assign(kept, { name: merged.name, corrected: true });
    },
    assign(edit) {
      if (edit.created !== undefined) SPEAKERS.push(pageSpeaker(edit.created, SPEAKERS.length));
      for (let turn = lowerBound(TURNS.start, edit.startMs); turn < TURN_COUNT && TURNS.start[turn] < edit.endMs; turn++) {
        if (TURNS.end[turn] <= edit.endMs && TURNS.speaker[turn] >= 0) TURNS.speaker[turn] = edit.speaker;
      }
      for (let i = lowerBound(WORDS.start, edit.startMs); i < WORD_COUNT && WORDS.start[i] < edit.endMs; i++) {
        WORDS.speaker[i] = edit.speaker;
      }
    },
  };

  /** One edit as corrections; run on the state after the whole log, so a page speaker's final fate is known. */
  function correctionsOf(edit, enroll) {
    if (edit.op === "rename") {
      // A page speaker has no key: it is named by the assigns that made it (its final name, below).
      // One voiceprint per renamed speaker: its first key's rename asks for it (apply hears the merged speaker).
      return SPEAKERS[edit.speaker].keys.map((key, i) => ({
        op: "rename", speaker: key, name: edit.name, ...(enroll && i === 0 ? { enroll: true } : {}),
      }));
    }
    if (edit.op === "merge") {
      const kept = SPEAKERS[edit.speaker].keys[0];
      return SPEAKERS[edit.merged].keys.map((key) => ({ op: "merge", speaker: kept, merged: key }));
    }
    return [{ op: "assign", start: edit.startMs / 1000, end: edit.endMs / 1000, ...assignTarget(edit.speaker) }];
  }

  /** Whom an assign names: a speaker's key, or a page speaker's final name, or the speaker it was merged into. */
  function assignTarget(speaker) {
    const target = SPEAKERS[speaker].created ? live(speaker) : speaker;
    const keys = SPEAKERS[target].keys;
    return keys.length ? { speaker: keys[0] } : { name: SPEAKERS[target].name };
  }

  /** Speakers another can be merged into: a page speaker cannot, having no key for the merge to name. */
  function mergeTargets(merged) {
    const targets = [];
    SPEAKERS.forEach((speaker, index) => {
      if (index !== merged && speaker.mergedInto < 0 && speaker.keys.length) targets.push(index);
    });
    return targets;
  }

  function refreshSpeakerTable() {
    for (const row of document.querySelectorAll("#speakers .speaker-row")) {
      const speaker = SPEAKERS[Number(row.dataset.speaker)];
      row.querySelector(".speaker-name").textContent = speaker.name;
      row.classList.toggle("merged", speaker.mergedInto >= 0);
      row.title = speaker.mergedInto >= 0 ? `Merged into ${nameOf(speaker.mergedInto)}` : "";
    }
  }

  class Editor {
    constructor() {
      this.log = [];
      this.turn = -1;
      this.author = byId("editor-author");
      this.enroll = byId("editor-enroll");
      this.speakerList = byId("editor-speakers");
      this.turnText = byId("editor-turn-text");
      this.target = byId("editor-turn-target");
      this.newName = byId("editor-turn-name");
      this.assignButton = byId("editor-turn-assign");
      this.undoButton = byId("editor-undo");
      this.downloadButton = byId("editor-download");
      this.fileName = `${DATA.episode}.corrections.json`;
      byId("editor-command").textContent = `diarflow speakers apply ${DATA.episode} ${this.fileName}`;
      this.target.addEventListener("change", () => {
        this.newName.hidden = this.target.value !== "new";
        if (!this.newName.hidden) this.newName.focus();
      });
      this.newName.addEventListener("keydown", (event) => {
        if (event.key === "Enter") this.assignTurn();
      });
      this.assignButton.addEventListener("click", () => this.assignTurn());
      this.undoButton.addEventListener("click", () => {
        this.log.pop();
        this.replay();
      });
      this.downloadButton.addEventListener("click", () => this.download());
      this.showSpeakers();
    }

    record(edit) {
      this.log.push({ ...edit, at: new Date().toISOString() });
      this.replay();
    }

    replay() {
      SPEAKERS.length = 0;
      for (const speaker of AS_REPORTED.speakers) SPEAKERS.push({ ...speaker });
      for (let turn = 0; turn < TURN_COUNT; turn++) TURNS.speaker[turn] = AS_REPORTED.turns[turn];
      for (let i = 0; i < WORD_COUNT; i++) WORDS.speaker[i] = AS_REPORTED.words[i];
      for (const edit of this.log) EDITS[edit.op](edit);
      timeline.rebuild();
      transcript.refreshSpeakers();
      refreshSpeakerTable();
      this.showSpeakers();
      this.showTurn(timeline.selectedTurn);
      this.showLog();
    }

    /** The corrections file's content: one object per correction, oldest first. */
    corrections() {
      const author = this.author.value.trim();
      // A voice is enrolled once, under its last name, and only while it is still a speaker of its own.
      const lastRename = new Map();
      this.log.forEach((edit, index) => { if (edit.op === "rename") lastRename.set(edit.speaker, index); });
      const items = [];
      this.log.forEach((edit, index) => {
        const stamp = author ? { author, created_at: edit.at } : { created_at: edit.at };
        const enroll = this.enroll.checked && lastRename.get(edit.speaker) === index && !(SPEAKERS[edit.speaker].mergedInto >= 0);
        for (const correction of correctionsOf(edit, enroll)) items.push({ ...correction, ...stamp });
      });
      return items;
    }

    showSpeakers() {
      const rows = [];
      SPEAKERS.forEach((speaker, index) => {
        if (speaker.mergedInto >= 0) return;
        const editable = speaker.created || speaker.keys.length > 0;
        const row = element("div", "editor-speaker");
        row.dataset.speaker = String(index);
        const swatch = element("span", "swatch");
        swatch.style.setProperty("--c", speaker.color);
        const name = element("input", "editor-name");
        Object.assign(name, { type: "text", value: speaker.name, maxLength: 256, disabled: !editable });
        name.setAttribute("aria-label", `Rename ${speaker.name}`);
        name.addEventListener("change", () => this.rename(index, name));
        const merge = element("select", "editor-merge");
        merge.setAttribute("aria-label", `Merge ${speaker.name} into another speaker`);
        merge.append(option("", "Merge into…"));
        for (const target of mergeTargets(index)) merge.append(option(String(target), SPEAKERS[target].name));
        merge.disabled = !editable || merge.options.length < 2;
        merge.addEventListener("change", () => this.merge(Number(merge.value), index));
        row.append(swatch, name, merge);
        rows.push(row);
      });
      this.speakerList.replaceChildren(...rows);
    }

    rename(speaker, input) {
      const name = input.value.trim();
      const before = SPEAKERS[speaker].name;
      if (!name || name === before) {
        input.value = before;
        return;
      }
      this.record({ op: "rename", speaker, name, label: `${before} → ${name}` });
    }

    merge(kept, merged) {
      if (!(kept >= 0)) return;
      this.record({ op: "merge", speaker: kept, merged, label: `${SPEAKERS[merged].name} merged into ${SPEAKERS[kept].name}` });
    }

    /** The turn the timeline selected, and whom it can go to (nobody for words no turn covers). */
    showTurn(turn) {
      this.turn = turn;
      const speaker = turn >= 0 ? TURNS.speaker[turn] : UNATTRIBUTED;
      if (turn < 0) {
        this.turnText.textContent = "Click a turn in the timeline to reassign it.";
      } else {
        const span = `${formatTime(TURNS.start[turn] / 1000, true)} – ${formatTime(TURNS.end[turn] / 1000, true)}`;
        this.turnText.textContent = speaker >= 0
          ? `Turn ${span} · ${nameOf(speaker)}`
          : `Turn ${span} · words no speaker turn covers: nothing to reassign`;
      }
      const options = [];
      SPEAKERS.forEach((other, index) => {
        if (index !== speaker && other.mergedInto < 0) options.push(option(String(index), other.name));
      });
      options.push(option("new", "New speaker…"));
      this.target.replaceChildren(...options);
      this.newName.hidden = this.target.value !== "new";
      const usable = speaker >= 0;
      this.target.disabled = !usable;
      this.assignButton.disabled = !usable;
    }

    assignTurn() {
      const turn = this.turn;
      if (turn < 0 || TURNS.speaker[turn] < 0) return;
      let speaker = Number(this.target.value);
      let created;
      if (this.target.value === "new") {
        const name = this.newName.value.trim();
        if (!name) {
          this.newName.focus();
          return;
        }
        speaker = SPEAKERS.findIndex((other) => other.mergedInto < 0 && other.name === name);
        if (speaker < 0) [speaker, created] = [SPEAKERS.length, name];
      }
      if (speaker === TURNS.speaker[turn]) return;
      this.newName.value = "";
      const span = `${formatTime(TURNS.start[turn] / 1000, true)}–${formatTime(TURNS.end[turn] / 1000, true)}`;
      const label = `${span} → ${created !== undefined ? created : SPEAKERS[speaker].name}`;
      this.record({ op: "assign", startMs: TURNS.start[turn], endMs: TURNS.end[turn], speaker, created, label });
    }

    showLog() {
      const count = this.log.length;
      byId("editor-count").textContent = count ? `${count} edit${count === 1 ? "" : "s"}` : "";
      byId("editor-log").replaceChildren(...this.log.map((edit) => element("li", "", edit.label)));
      this.undoButton.disabled = !count;
      this.downloadButton.disabled = !count;
    }

    /** Save the corrections as a file: a link to a Blob, so the page needs no server, even from file://. */
    download() {
      const text = `${JSON.stringify(this.corrections(), null, 2)}\n`;
      const link = element("a");
      link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      link.download = this.fileName;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    }
  }

  // ---------------------------------------------------------------- summary panels, clips, keyboard

  const clipPlayers = new Map();

  function toggleClip(button) {
    const label = button.dataset.clip;
    const source = DATA.clips[label];
    if (!source) return;
    let player = clipPlayers.get(label);
    if (!player) {
      player = new Audio();
      player.preload = "auto";
      player.src = source;
      const reset = () => button.classList.remove("playing");
      player.addEventListener("ended", reset);
      player.addEventListener("pause", reset);
      player.addEventListener("play", () => button.classList.add("playing"));
      player.addEventListener("error", () => {
        reset();
        button.disabled = true;
        button.title = "Clip not reachable";
      });
      clipPlayers.set(label, player);
    }
    for (const [other, otherPlayer] of clipPlayers) if (other !== label) otherPlayer.pause();
    if (player.paused) {
      if (!audio.paused) audio.pause();
      player.currentTime = 0;
      const playing = player.play();
      if (playing) playing.catch(() => {});
    } else {
      player.pause();
    }
  }

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-clip], [data-seek]") : null;
    if (!target) return;
    if (target.dataset.clip !== undefined) toggleClip(target);
    else {
      timeline.select(-1);
      goTo(Number(target.dataset.seek) * 1000, { flash: true });
    }
  });

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === " " && audioReady && !(target instanceof HTMLButtonElement)) {
      event.preventDefault();
      if (audio.paused) audio.play().catch(() => {});
      else audio.pause();
    } else if ((key === "ArrowLeft" || key === "ArrowRight") && target !== transcript.pane) {
      event.preventDefault();
      const now = timeline.playheadMs() || 0;
      goTo(clamp(now + (key === "ArrowLeft" ? -5000 : 5000), 0, DURATION_MS), { play: !audio.paused });
    } else if (key === "+" || key === "=") {
      timeline.zoom(0.5);
    } else if (key === "-" || key === "_") {
      timeline.zoom(2);
    } else if (key === "0") {
      timeline.fit();
    } else if (key === "/") {
      event.preventDefault();
      byId("search-input").focus();
    } else if (key === "Escape") {
      hideTooltip();
    }
  });

  // ---------------------------------------------------------------- playback

  let lastPlaybackWord = -1;

  function onPlaybackTick() {
    if (!audioReady) return;
    const ms = audio.currentTime * 1000;
    cursorMs = ms;
    const follow = byId("follow").checked && !audio.paused;
    if (follow) timeline.reveal(ms);
    timeline.requestDraw();
    let word = wordAt(ms);
    if (word >= 0 && ms > WORDS.end[word] + 400) word = -1; // in a pause
    if (word !== lastPlaybackWord) {
      lastPlaybackWord = word;
      transcript.setCurrent(word);
      if (word >= 0 && follow) transcript.follow(word);
    }
  }

  function playbackLoop() {
    onPlaybackTick();
    if (!audio.paused) requestAnimationFrame(playbackLoop);
  }

  audio.addEventListener("play", () => requestAnimationFrame(playbackLoop));
  audio.addEventListener("seeked", onPlaybackTick);
  audio.addEventListener("pause", onPlaybackTick);

  // ---------------------------------------------------------------- start

  let editor = null;
  const timeline = new Timeline();
  const transcript = new Transcript();
  new Finder();
  editor = new Editor();

  window.addEventListener("blur", () => hideTooltip());
  document.documentElement.dataset.ready = "true";
  window.diarflowReport = Object.freeze({
    readyAt: performance.now(),
    wordCount: WORD_COUNT,
    turnCount: TURN_COUNT,
    turnPoint: (turn) => timeline.turnPoint(turn),
    revealWord: (word) => {
      transcript.reveal(word, false);
    },
    renderedWordCount: () => transcript.pane.querySelectorAll(".w").length,
    corrections: () => editor.corrections(),
  });
})();
