// The demo page: buttons drive the JS API, and every event is listed.
(function () {
  var names = ['ready', 'open', 'close', 'state', 'conversation.created', 'conversation.started',
    'conversation.ended', 'utterance', 'tool_call', 'speaking', 'error'];
  var list = document.getElementById('events');
  names.forEach(function (name) {
    cvi('on', name, function (e) {
      var item = document.createElement('li');
      var detail = Object.assign({}, e);
      delete detail.widget;
      item.textContent = name + ' ' + JSON.stringify(detail);
      list.prepend(item);
    });
  });
  document.querySelectorAll('button[data-cvi]').forEach(function (b) {
    b.addEventListener('click', function () { cvi(b.dataset.cvi); });
  });
})();
