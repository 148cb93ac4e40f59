import sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, EYES, C
def tem_lines(p):
    t=open(p).read().split('\n'); n=int(t[0]); pts=np.array([[float(v) for v in t[1+i].split()] for i in range(n)])
    i=1+n; nl=int(t[i]); i+=1; lines=[]
    for _ in range(nl):
        closed=t[i]; cnt=int(t[i+1]); idx=[int(v) for v in t[i+2].split()]; lines.append(idx); i+=3
    return pts,lines
rows=[]
for src in sorted(Path('/work/shared/calibration/london').glob('*_03.jpg')):
    pts,lines=tem_lines(src.with_suffix('.tem'))
    img=np.asarray(Image.open(src).convert('RGB'))
    eye=(pts[0]+pts[1])/2; chin=pts[129]; reach=np.linalg.norm(chin-eye)
    m=run_mesh(sess,img,(eye+chin)/2,2.3*reach)
    le=m[EYES[0]][:,:2].mean(0); re=m[EYES[1]][:,:2].mean(0)
    ux=(re-le)/np.linalg.norm(re-le); uy=np.array([-ux[1],ux[0]])
    fw=np.linalg.norm(m[234,:2]-m[454,:2])
    out=[]
    for side,(cp,junc,outer) in enumerate([(234,lines[24],lines[26]),(454,lines[25],lines[27])]):
        o=m[cp,:2]; sgn=-1 if side==0 else 1
        def fr(p): d=p-o; return np.array([sgn*(d@ux)/fw,(d@uy)/fw])
        J=np.array([fr(pts[i]) for i in junc]); O=np.array([fr(pts[i]) for i in outer])
        out.append((J[:,0].mean(), O[:,0].max(), O[:,1].min(), O[:,1].max(), J[:,1].min(), J[:,1].max()))
    rows.append((src.name[:3],)+tuple(np.round(np.array(out).ravel(),3)))
    print(rows[-1], flush=True)
a=np.array([r[1:] for r in rows])
for k,name in enumerate(['junc_x','outer_x','outer_top','outer_bot','junc_top','junc_bot']):
    v=np.concatenate([a[:,k],a[:,6+k]]); print(name, 'p10 %.3f med %.3f p90 %.3f'%tuple(np.percentile(v,[10,50,90])))
